"""``manage.py faults``: show, set, reset and scenario, with bad input as a CommandError."""

from __future__ import annotations

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
    assert "order_db_stall       0.5      seconds" in table["order_db_stall"]


def test_set_stores_the_values_and_marks_them():
    """set stores every NAME=VALUE given and marks the changed flags with '*'."""
    table = faults("set", "payment_decline=0.05", "order_db_timeout=1")
    assert dict(FaultFlag.objects.values_list("name", "value")) == {
        "payment_decline": 0.05,
        "order_db_timeout": 1.0,
    }
    assert table["payment_decline"].startswith("* payment_decline      0.05")
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
        (("set", "nope=1"), "unknown fault 'nope'; known faults: email_failure"),
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
