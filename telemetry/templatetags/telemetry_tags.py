"""Template helpers for the trace viewer."""

from django import template

register = template.Library()


@register.filter
def get_item(mapping, key):
    """Look up a key with dots in it (span attributes such as ``db.statement``)."""
    return (mapping or {}).get(key, "")
