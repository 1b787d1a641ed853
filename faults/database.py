"""The database seam: an UPDATE that a named fault (``order_db_timeout``,
``order_place_db_timeout``) turns into a real timeout on that one statement.

The statement is made deliberately slow and the engine's own timeout stops it, so the
driver raises its own error on that statement alone (no lock over the whole database):
PostgreSQL cancels it through ``statement_timeout``; SQLite has no statement timeout, so
a timer calls the connection's ``interrupt()``, which is what a timeout does there.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection
from django.db.models import QuerySet

from faults.services import fault_fires, fault_value

_SQLITE_SPIN = (
    "(WITH RECURSIVE spin(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM spin WHERE n < 1000000000000)"
    " SELECT max(n) FROM spin) > 0"
)


def slow_condition(seconds: float) -> tuple[str, list]:
    """A SQL condition that is true, but only after far longer than ``seconds``."""
    if connection.vendor == "postgresql":
        return "(SELECT 1 FROM pg_sleep(%s)) = 1", [seconds + 60]
    return _SQLITE_SPIN, []


@contextmanager
def statement_timeout(seconds: float) -> Iterator[None]:
    """Statements run in this block time out after ``seconds``. It must run inside a
    transaction: PostgreSQL's setting is transaction-local, and a savepoint would not
    survive SQLite's interrupt (it rolls back the whole transaction)."""
    if not connection.in_atomic_block:
        raise RuntimeError("statement_timeout() needs a transaction (transaction.atomic)")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('statement_timeout', %s, true)", [f"{int(seconds * 1000)}ms"])
        yield
        return
    connection.ensure_connection()
    timer = threading.Timer(seconds, connection.connection.interrupt)
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def guarded_update(queryset: QuerySet, *, fault: str | None, **fields: object) -> int:
    """``queryset.update(**fields)``; when ``fault`` fires, that statement alone stalls
    until the engine's timeout (``order_db_stall`` seconds) stops it with the driver's own
    error, as a real timeout would. Must run inside a transaction (see ``statement_timeout``)."""
    if fault is None or not fault_fires(fault):
        return queryset.update(**fields)
    stall = fault_value("order_db_stall")
    # Ten times the timeout: the statement cannot finish before the timeout fires.
    condition, params = slow_condition(stall * 10)
    with statement_timeout(stall):
        return queryset.extra(where=[condition], params=params).update(**fields)
