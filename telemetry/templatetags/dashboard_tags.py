"""Number formatting for the service dashboard and the alert banner."""

from django import template

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
