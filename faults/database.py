"""The database seam: faults that make the database itself misbehave on one statement.

- ``guarded_update``: an UPDATE that a named fault (``order_db_timeout``,
  ``order_place_db_timeout``) turns into a real timeout on that one statement. The
  statement is made deliberately slow and the engine's own timeout stops it, so the
  driver raises its own error on that statement alone (no lock over the whole database):
  PostgreSQL cancels it through ``statement_timeout``; SQLite has no statement timeout, so
  a timer calls the connection's ``interrupt()``, which is what a timeout does there.
- ``slowed``: a query that a duration fault (``catalogue_slow_query``) makes take that
  much longer inside the database, as a query missing its index would: the statement's
  own span is slow, not the code around it.
- ``row_by_row``: a read that a rate fault (``catalogue_n_plus_one``) turns into an N+1,
  as a lazy relation in a loop does: the ids first, then one SELECT per row.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

from django.db import connection, connections
from django.db.models import Model, QuerySet

from faults.services import fault_fires, fault_value
from instrumentation.context import mark_fault

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


SQLITE_SLEEP = "threadline_sleep"  # registered on the connection: SQLite has no sleep of its own


def slowed(queryset: QuerySet, *, fault: str) -> QuerySet:
    """``queryset``; while the duration ``fault`` (milliseconds) is set, its statement takes
    that much longer in the database: PostgreSQL's ``pg_sleep``, SQLite's registered sleep,
    each in an uncorrelated scalar subquery that the engine evaluates once per statement."""
    milliseconds = fault_value(fault)
    if milliseconds <= 0:
        return queryset
    mark_fault(fault)
    target = connections[queryset.db]
    if target.vendor == "postgresql":
        condition = "(SELECT 1 FROM pg_sleep(%s)) = 1"
    else:
        target.ensure_connection()
        target.connection.create_function(SQLITE_SLEEP, 1, _sleep_seconds)
        condition = f"(SELECT {SQLITE_SLEEP}(%s)) = 1"
    return queryset.extra(where=[condition], params=[milliseconds / 1000])


def _sleep_seconds(seconds: float) -> int:
    time.sleep(seconds)
    return 1


M = TypeVar("M", bound=Model)


def row_by_row(queryset: QuerySet[M], *, fault: str) -> list[M]:
    """``list(queryset)``; when ``fault`` fires, read as an N+1 does: the primary keys in
    one query, then each row by its key, one SELECT per row (the same statement, a
    different id each time)."""
    if not fault_fires(fault):
        return list(queryset)
    rows = queryset.model._default_manager.using(queryset.db)
    return [rows.get(pk=pk) for pk in queryset.values_list("pk", flat=True)]
