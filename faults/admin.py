"""Fault flags in the admin, so faults can be injected without a terminal: staff with the
fault flag permissions set them (the support group only sees them); values are checked
against each fault's bounds, as the command does."""

from django import forms
from django.contrib import admin

from faults.models import FaultFlag
from faults.registry import FAULTS
from faults.services import FaultError, parse_assignment


class FaultFlagForm(forms.ModelForm):
    name = forms.ChoiceField(
        choices=[(name, f"{name}: {fault.help}") for name, fault in sorted(FAULTS.items())]
    )

    class Meta:
        model = FaultFlag
        fields = ["name", "value"]
        help_texts = {"value": "rates are 0..1; latency in ms, stall in seconds"}

    def clean(self):
        cleaned = super().clean()
        if cleaned is not None and "name" in cleaned and "value" in cleaned:
            try:
                parse_assignment(f"{cleaned['name']}={cleaned['value']}")
            except FaultError as exc:
                raise forms.ValidationError(str(exc)) from exc
        return cleaned


@admin.register(FaultFlag)
class FaultFlagAdmin(admin.ModelAdmin):
    form = FaultFlagForm
    list_display = ("name", "value", "unit", "meaning", "updated_at")
    search_fields = ("name",)

    @admin.display(description="unit")
    def unit(self, flag: FaultFlag) -> str:
        return FAULTS[flag.name].unit if flag.name in FAULTS else "?"

    @admin.display(description="what it does")
    def meaning(self, flag: FaultFlag) -> str:
        return FAULTS[flag.name].help if flag.name in FAULTS else "unknown fault (ignored)"
