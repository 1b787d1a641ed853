"""Counts in words, written once for every app: "1 attempt", "4 attempts"."""


def counted(count: int, noun: str) -> str:
    """``count`` and ``noun``, the noun plural unless the count is one (a regular plural)."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
