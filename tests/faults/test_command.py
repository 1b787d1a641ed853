"""``manage.py faults``: show, set, reset and scenario, with bad input as a CommandError."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from faults.models import FaultFlag
from faults.registry import FAULTS
from faults.services import fault_values

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _reset_after():
    yield
    call_command("faults", "reset", stdout=StringIO())


def faults(*args: str) -> dict[str, str]:
    """Run the command; answer its table as {name: line}."""
    out = StringIO()
    call_command("faults", *args, stdout=out)
    return {line[2:].split()[0]: line for line in out.getvalue().splitlines()}


def test_show_lists_every_fault_unmarked_at_its_default():
    """show prints one line per fault, none marked as changed."""
    table = faults("show")
    assert set(table) == set(FAULTS)
    assert not any(line.startswith("*") for line in table.values())
    assert table["order_db_stall"].split()[:3] == ["order_db_stall", "0.5", "seconds"]


def test_show_lines_up_every_column_whatever_the_name_and_value_lengths():
    """The longest name (order_place_db_timeout) and a five-digit value (30000 ms) still
    leave the values, units and help texts each starting in one column."""
    lines = list(faults("set", "gateway_latency=30000", "payment_decline=0.05").values())
    for column in range(1, 4):  # value, unit, help: the cells after the name
        edges = {_cell_end(line, column) for line in lines}
        assert len(edges) == 1, f"column {column} is ragged: {sorted(edges)}"


def _cell_end(line: str, column: int) -> int:
    """Where the ``column``-th cell after the marker ends (values are right-aligned, so
    their ends line up) or starts (names, units and help are left-aligned)."""
    cells = [(m.start(), m.end()) for m in re.finditer(r"\S+", line[2:])]
    start, end = cells[column]
    return end + 2 if column == 1 else start + 2


def test_set_stores_the_values_and_marks_them():
    """set stores every NAME=VALUE given and marks the changed flags with '*'."""
    table = faults("set", "payment_decline=0.05", "order_db_timeout=1")
    assert dict(FaultFlag.objects.values_list("name", "value")) == {
        "payment_decline": 0.05,
        "order_db_timeout": 1.0,
    }
    assert table["payment_decline"].split()[:3] == ["*", "payment_decline", "0.05"]
    assert table["order_db_timeout"].startswith("*")
    assert table["inventory_shortage"].startswith(" ")


def test_reset_turns_every_fault_off():
    """reset removes every stored flag."""
    faults("set", "payment_decline=0.5")
    table = faults("reset")
    assert not FaultFlag.objects.exists()
    assert not any(line.startswith("*") for line in table.values())


def test_scenario_incident_sets_its_flags():
    """scenario incident sets the incident's declines, shortages and database timeouts."""
    faults("scenario", "incident")
    values = fault_values(fresh=True)
    assert (values["payment_decline"], values["inventory_shortage"], values["order_db_timeout"]) == (
        0.05,
        0.1,
        0.3,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("set", "nope=1"), "unknown fault 'nope'; known faults: catalogue_n_plus_one"),
        (("set", "payment_decline=often"), "is not a number"),
        (("set", "payment_decline=2"), "outside 0..1"),
        (("scenario", "apocalypse"), "invalid choice"),
    ],
)
def test_bad_input_is_a_command_error_and_changes_nothing(args, message):
    """A bad assignment or scenario stops the command with its message; no flag is stored."""
    with pytest.raises(CommandError, match=message):
        faults(*args)
    assert not FaultFlag.objects.exists()


def test_one_bad_assignment_stores_none_of_them():
    """set is all or nothing: one bad NAME=VALUE means no flag is stored."""
    with pytest.raises(CommandError):
        faults("set", "payment_decline=0.5", "payment_decline=9")
    assert not FaultFlag.objects.exists()
