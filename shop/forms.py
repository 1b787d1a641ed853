"""The checkout form of the storefront."""

import uuid

from django import forms

CARDS = [
    ("tok_ok", "Test card that approves"),
    ("tok_decline", "Test card that is declined"),
]


class CheckoutForm(forms.Form):
    # One key per rendered form: submitting it twice is the same checkout.
    checkout_key = forms.CharField(
        widget=forms.HiddenInput, max_length=100, initial=lambda: f"web-{uuid.uuid4()}"
    )
    email = forms.EmailField(help_text="We send the confirmation here.")
    card = forms.ChoiceField(choices=CARDS, initial="tok_ok", label="Card")
