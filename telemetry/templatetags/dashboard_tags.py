"""Number formatting for the service dashboard and the alert banner."""

from django import template
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe

register = template.Library()


@register.filter
def percent(value) -> str:
    """0.125 → "12.5%"."""
    return "–" if value is None else f"{value:.1%}"


@register.filter
def ms(value) -> str:
    """A latency in milliseconds, "–" when there is none."""
    if value is None:
        return "–"
    return f"{value:.0f} ms" if value >= 100 else f"{value:.1f} ms"


@register.filter
def alert_value(state) -> str:
    """An alert state's last value in its rule's unit."""
    from telemetry.dashboard.alerts import format_value

    return format_value(state.rule, state.last_value)


@register.filter
def rate(per_second) -> str:
    """A call rate in the unit that shows it in whole-ish numbers: per second when at least
    one a second, else per minute, else per hour (never "0.000")."""
    if per_second is None:
        return "–"
    if per_second == 0:
        return "0"
    for factor, unit in ((1, "s"), (60, "min"), (3600, "h")):
        value = per_second * factor
        if value >= 1:
            return f"{value:.0f}/{unit}" if value >= 10 else f"{value:.1f}/{unit}"
    return f"{value:.1f}/h" if value >= 0.1 else "< 0.1/h"


@register.filter
def breakable(name) -> SafeString:
    """A route or span name that may wrap only after a separator ("/", ".", "_", " "), never
    inside a word: the text escaped, a <wbr> after each separator."""
    text = str(conditional_escape(name))
    for separator in "/._":
        text = text.replace(separator, separator + "<wbr>")
    return mark_safe(text)  # noqa: S308 - escaped above; only <wbr> added
