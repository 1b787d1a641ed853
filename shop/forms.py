"""The checkout form of the storefront."""

from django import forms

CARDS = [
    ("tok_ok", "Test card that approves"),
    ("tok_decline", "Test card that is declined"),
]


class CheckoutForm(forms.Form):
    email = forms.EmailField(help_text="We send the confirmation here.")
    card = forms.ChoiceField(choices=CARDS, initial="tok_ok", label="Card")
