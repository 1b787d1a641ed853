"""The checkout form of the storefront."""

import uuid

from django import forms
from django.core.exceptions import ValidationError

from shop import services

CARDS = [
    ("tok_ok", "Test card that approves"),
    ("tok_decline", "Test card that is declined"),
]


def _valid_key(value: str) -> None:
    """The API's rule for an idempotency key (``services.IDEMPOTENCY_KEY``). The field is
    hidden, so the customer cannot mend it: they are told to start again."""
    if not services.IDEMPOTENCY_KEY.fullmatch(value):
        raise ValidationError("This checkout form is out of date; reload the cart page and order again.")


class CheckoutForm(forms.Form):
    # One key per rendered form: submitting it twice is the same checkout.
    checkout_key = forms.CharField(
        widget=forms.HiddenInput,
        strip=False,  # checked as sent, as the API's header is
        validators=[_valid_key],
        initial=lambda: f"web-{uuid.uuid4()}",
    )
    email = forms.EmailField(help_text="We send the confirmation here.")
    card = forms.ChoiceField(choices=CARDS, initial="tok_ok", label="Card")

    def idempotency_key(self) -> str:
        """The checkout's key as the shop and orders store it: scoped to the customer, the
        same way as the API's Idempotency-Key (``services.scoped_key``)."""
        return services.scoped_key(self.cleaned_data["email"], self.cleaned_data["checkout_key"])
