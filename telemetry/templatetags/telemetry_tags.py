"""Template helpers for the trace viewer."""

import datetime as dt

from django import template

from telemetry import waterfall

register = template.Library()


@register.filter
def get_item(mapping, key):
    """Look up a key with dots in it (span attributes such as ``db.statement``)."""
    return (mapping or {}).get(key, "")


@register.filter
def service_colour(service):
    """The stable colour of a service (see ``telemetry.waterfall.service_colour``)."""
    return waterfall.service_colour(str(service))


@register.filter
def ns_datetime(value):
    """Epoch nanoseconds as an aware datetime, for the ``date`` filter."""
    return dt.datetime.fromtimestamp(int(value) / 1e9, tz=dt.UTC)


@register.filter
def ns_ms(value):
    """Nanoseconds as milliseconds."""
    return int(value or 0) / 1e6


@register.filter
def ns_to_ms(nanoseconds) -> float:
    return (nanoseconds or 0) / 1e6


@register.filter
def percent(share) -> str:
    return f"{(share or 0) * 100:.1f}%"
