"""The diagnosis of a real failed order: the trace the server and the worker stored for an
order whose confirmation timed out on every attempt, analysed by ``manage.py trace``."""

from __future__ import annotations

import json

import pytest

from tests.flows.conftest import compensation_stored

pytestmark = pytest.mark.flow

MAX_ATTEMPTS = 4  # ORDERS_FINALIZE_MAX_RETRIES (3) + the first attempt


def test_a_database_timeout_on_every_attempt_is_diagnosed_from_the_stored_trace(calm):
    """Root cause: attempt 1's confirmation UPDATE with the driver's own error and the
    injected fault, repeated on every attempt, with the application frames that led to it;
    the error climbs to the attempt (not to the checkout, which answered long before); the
    compensation that followed is named; the advice is the one for timeouts on retries."""
    calm.set_faults("order_db_timeout=1.0", "order_db_stall=0.3")
    response = calm.checkout([("MONITOR-4K-27", 1)])
    assert response.status_code == 202, response.text
    order_id = response.json()["order_id"]
    assert calm.wait_for_status(order_id, {"confirmed", "failed"}, timeout=60)["status"] == "failed"
    calm.manage("faults", "reset")
    calm.trace(order_id, until=compensation_stored)

    diagnosis = json.loads(calm.manage("trace", "--order", order_id, "--analyze", "--json"))

    cause = diagnosis["root_cause"]
    assert cause["name"] == "UPDATE" and cause["statement"].startswith('UPDATE "orders_order"')
    assert cause["exception_type"] in {"sqlite3.OperationalError", "psycopg.errors.QueryCanceled"}
    assert cause["service"] == "orders-worker" and cause["fault"] == "order_db_timeout"
    assert (cause["task"], cause["attempt"], cause["attempts"]) == ("orders.finalize_order", 1, MAX_ATTEMPTS)
    assert cause["repeated_on"] == list(range(2, MAX_ATTEMPTS + 1))

    # The error stopped at the attempt: the publish and the checkout that answered 202 are ok.
    path = [step["name"] for step in diagnosis["propagation"]["path"]]
    assert path == ["UPDATE", "run/orders.finalize_order"]
    # The stack reaches the shop's code: the task, then the service function.
    assert cause["stack"][0].startswith("orders/tasks.py:") and "in finalize_order" in cause["stack"][0]
    assert any(line.startswith("orders/services.py:") for line in cause["stack"])
    assert diagnosis["engine"] in {"sqlite", "postgresql"}
    after = [step["what"] for step in diagnosis["propagation"]["after"]]
    assert "compensation ran" in after and "order failed" in after
    assert {"payment voided", "stock released"} <= set(after)
    assert diagnosis["outcome"][0] == f"gave up after {MAX_ATTEMPTS} attempts"
    assert "db_timeout_on_retries" in [rec["kind"] for rec in diagnosis["recommendations"]]
    assert diagnosis["summary"].startswith("orders-worker: UPDATE orders_order failed with ")
