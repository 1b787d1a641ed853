"""The trace viewer's forms: the search filters (read from the query string) and the
OTLP upload."""

from __future__ import annotations

import datetime as dt
import re
import time
from typing import Any

from django import forms
from django.utils import timezone

from telemetry.selectors import SORTS, TraceQuery

RANGES = {"15m": 15 * 60, "1h": 3600, "24h": 24 * 3600}
# Attribute keys as OpenTelemetry writes them, at most as long as the index stores; the
# search takes a key as data (``regex`` or ``a__b`` is just a key), this keeps it readable.
ATTRIBUTE_KEY = re.compile(r"[A-Za-z0-9_.:\-]{1,200}")
MAX_ATTRIBUTE_FILTERS = 10
LOCAL_INPUT_ATTRS = {"type": "datetime-local"}
LOCAL_INPUT_FORMAT = "%Y-%m-%dT%H:%M"


class TraceSearchForm(forms.Form):
    service = forms.CharField(required=False, max_length=100)
    operation = forms.CharField(required=False, max_length=300)
    # The metaclass moves declared fields into base_fields, so Form.errors is not shadowed.
    errors = forms.BooleanField(required=False, label="errors only")  # type: ignore[assignment]
    min_ms = forms.FloatField(required=False, min_value=0, label="min ms")
    max_ms = forms.FloatField(required=False, min_value=0, label="max ms")
    range = forms.ChoiceField(
        required=False,
        choices=[("", "all time"), ("15m", "last 15 min"), ("1h", "last hour"), ("24h", "last 24 h")],
    )
    start = forms.DateTimeField(
        required=False, label="from", widget=forms.DateTimeInput(LOCAL_INPUT_ATTRS, LOCAL_INPUT_FORMAT)
    )
    end = forms.DateTimeField(
        required=False, label="to", widget=forms.DateTimeInput(LOCAL_INPUT_ATTRS, LOCAL_INPUT_FORMAT)
    )
    sort = forms.ChoiceField(
        required=False,
        choices=[("newest", "newest"), ("slowest", "slowest"), ("spans", "most spans")],
    )

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data  # what Form.clean returns (the stubs allow None)
        cleaned["attributes"] = self._attributes()
        low, high = cleaned.get("min_ms"), cleaned.get("max_ms")
        if low is not None and high is not None and low > high:
            self.add_error("max_ms", "The maximum is below the minimum.")
        start, end = cleaned.get("start"), cleaned.get("end")
        if start is not None and end is not None and start > end:
            # Refused rather than searched: the range would match nothing, and an empty
            # result would read as "no such trace" instead of "the bounds are swapped".
            self.add_error(
                "end",
                f"'to' ({end:%Y-%m-%d %H:%M}) is before 'from' ({start:%Y-%m-%d %H:%M}): swap them, "
                "or leave one empty.",
            )
        return cleaned

    def _attributes(self) -> tuple[tuple[str, str], ...]:
        """Repeated ``attr=key=value`` parameters; blanks are skipped."""
        found = []
        raw = self.data.getlist("attr") if hasattr(self.data, "getlist") else []
        for text in (item.strip() for item in raw):
            if not text:
                continue
            key, equals, value = text.partition("=")
            key = key.strip()
            if not equals or not ATTRIBUTE_KEY.fullmatch(key):
                self.add_error(None, f"Attribute filters are key=value, e.g. order.id=…; not {text!r}.")
                continue
            found.append((key, value.strip()))
        if len(found) > MAX_ATTRIBUTE_FILTERS:
            self.add_error(None, f"At most {MAX_ATTRIBUTE_FILTERS} attribute filters.")
        return tuple(found[:MAX_ATTRIBUTE_FILTERS])

    def attribute_texts(self) -> list[str]:
        """The attribute filters as typed, for the form to show them again."""
        raw = self.data.getlist("attr") if hasattr(self.data, "getlist") else []
        return [text for text in raw if text.strip()]

    def to_query(self, now_ns: int | None = None) -> TraceQuery:
        """The search the valid form asks for: a chosen range counts back from ``now_ns``,
        explicit from/to bounds replace it."""
        data = self.cleaned_data
        now_ns = now_ns if now_ns is not None else time.time_ns()
        start_from = now_ns - RANGES[data["range"]] * 1_000_000_000 if data.get("range") in RANGES else None
        if data.get("start"):
            start_from = _ns(data["start"])
        start_to = _ns(data["end"]) if data.get("end") else None
        return TraceQuery(
            service=data.get("service") or "",
            operation=(data.get("operation") or "").strip(),
            errors_only=bool(data.get("errors")),
            min_duration_ms=data.get("min_ms"),
            max_duration_ms=data.get("max_ms"),
            start_from_ns=start_from,
            start_to_ns=start_to,
            attributes=data.get("attributes", ()),
            sort=data["sort"] if data.get("sort") in SORTS else "newest",
        )


def _ns(moment: dt.datetime) -> int:
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return int(moment.timestamp() * 1_000_000) * 1000


MAX_UPLOAD_BYTES = 20 * 1024 * 1024


class TraceUploadForm(forms.Form):
    file = forms.FileField(label="OTLP JSON file")

    def clean_file(self):
        """The file, refused before it is read when over the size limit."""
        upload = self.cleaned_data["file"]
        if upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(f"The file is over {MAX_UPLOAD_BYTES // (1024 * 1024)} MB.")
        return upload
