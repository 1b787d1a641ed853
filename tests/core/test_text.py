"""Counts in words: the noun is plural unless the count is one."""

import pytest

from core.text import counted


@pytest.mark.parametrize(
    ("count", "shown"), [(0, "0 attempts"), (1, "1 attempt"), (2, "2 attempts"), (4, "4 attempts")]
)
def test_the_noun_agrees_with_the_count(count, shown):
    assert counted(count, "attempt") == shown
