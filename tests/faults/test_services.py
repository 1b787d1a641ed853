"""Fault flags: parsing NAME=VALUE, setting and resetting them in the database, named
scenarios, and a fault firing (and saying so on the current span) at its rate."""

from __future__ import annotations

import pytest
from opentelemetry import trace

from faults import services
from faults.models import FaultFlag
from faults.registry import FAULTS, SCENARIOS
from faults.services import FaultError
from instrumentation import attributes

DEFAULTS = {name: fault.default for name, fault in FAULTS.items()}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("payment_decline=0.05", ("payment_decline", 0.05)),
        ("inventory_shortage=1", ("inventory_shortage", 1.0)),
        ("order_db_timeout=0", ("order_db_timeout", 0.0)),
        ("order_db_stall=10", ("order_db_stall", 10.0)),
    ],
)
def test_parse_assignment_reads_name_and_value(text, expected):
    """NAME=VALUE gives the fault's name and its value as a float, bounds included."""
    assert services.parse_assignment(text) == expected


def test_parse_assignment_of_an_unknown_name_lists_the_known_ones():
    """An unknown fault is refused with a message that lists every known fault."""
    with pytest.raises(FaultError) as refused:
        services.parse_assignment("payment_delcine=0.5")
    message = str(refused.value)
    assert "unknown fault 'payment_delcine'" in message
    assert all(name in message for name in FAULTS)


@pytest.mark.parametrize("text", ["payment_decline=lots", "payment_decline=", "payment_decline=5%"])
def test_parse_assignment_of_a_non_number_is_refused(text):
    """A value that is not a number is refused, saying so."""
    with pytest.raises(FaultError, match="is not a number"):
        services.parse_assignment(text)


@pytest.mark.parametrize(
    "text",
    [
        "payment_decline=1.5",
        "payment_decline=-0.1",
        "order_db_stall=11",
        "payment_decline=nan",
        "payment_decline=inf",
    ],
)
def test_parse_assignment_out_of_range_is_refused_with_the_range(text):
    """A rate outside 0..1 or a duration over its cap is refused, naming the range."""
    with pytest.raises(FaultError, match=r"is outside 0\.\."):
        services.parse_assignment(text)


def test_parse_assignment_without_equals_is_refused():
    """Text without '=' is refused, naming the expected form."""
    with pytest.raises(FaultError, match="expected NAME=VALUE"):
        services.parse_assignment("payment_decline")


@pytest.mark.django_db
def test_values_are_the_defaults_when_nothing_is_set():
    """With no flags stored, every fault has its default value."""
    services.faults_reset()
    assert services.fault_values(fresh=True) == DEFAULTS


@pytest.mark.django_db
def test_set_stores_the_flags_and_reset_removes_them():
    """Setting stores one row per flag and is seen at once; reset goes back to the defaults."""
    services.faults_set({"payment_decline": 0.25, "order_db_stall": 2.0})
    services.faults_set({"payment_decline": 0.5})
    assert dict(FaultFlag.objects.values_list("name", "value")) == {
        "payment_decline": 0.5,
        "order_db_stall": 2.0,
    }
    assert services.fault_value("payment_decline") == 0.5
    services.faults_reset()
    assert not FaultFlag.objects.exists()
    assert services.fault_values() == DEFAULTS


@pytest.mark.django_db
def test_the_incident_scenario_replaces_every_flag():
    """A scenario first resets, then sets its own flags."""
    services.faults_set({"order_db_stall": 5.0})
    values = services.faults_apply_scenario("incident")
    assert values == {**DEFAULTS, **SCENARIOS["incident"]}
    assert values["order_db_stall"] == DEFAULTS["order_db_stall"]
    services.faults_apply_scenario("calm")
    assert services.fault_values() == DEFAULTS


@pytest.mark.django_db
def test_an_unknown_scenario_is_refused():
    """An unknown scenario name is refused, listing the known ones."""
    with pytest.raises(FaultError, match="calm, incident"):
        services.faults_apply_scenario("apocalypse")


@pytest.mark.django_db
def test_a_fault_at_zero_never_fires_and_at_one_always_fires(faults, spans):
    """A rate of 0 never fires; a rate of 1 always fires and marks the current span."""
    faults({"payment_decline": 0.0, "inventory_shortage": 1.0})
    with trace.get_tracer(__name__).start_as_current_span("step"):
        assert not any(services.fault_fires("payment_decline") for _ in range(50))
        assert all(services.fault_fires("inventory_shortage") for _ in range(50))
    [span] = spans.get_finished_spans()
    assert span.attributes[attributes.FAULT_NAME] == "inventory_shortage"
