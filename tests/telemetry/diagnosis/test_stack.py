"""The root cause's stack: the application frames of the first stack trace on the error's
path that reaches the shop's code, library frames folded into one line per run."""

from __future__ import annotations

from synthetic import builders as traces
from telemetry.diagnosis.analysis import analyze
from telemetry.diagnosis.stack import folded_lines, frames
from telemetry.diagnosis.text import diagnosis_text

LIB = "/srv/.venv/lib/python3.11/site-packages"
WRAPPED = f'''Traceback (most recent call last):
  File "{LIB}/django/db/backends/sqlite3/base.py", line 360, in execute
    return super().execute(query, params)
sqlite3.OperationalError: interrupted

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File "/srv/shop/orders/tasks.py", line 73, in finalize_order
    services.order_finalize(order_id=uuid.UUID(order_id))
  File "/srv/shop/orders/services.py", line 166, in _write_confirmation
    if _update(rows, fault="order_db_timeout", confirmation_code=code):
       ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  File "{LIB}/django/db/models/query.py", line 1263, in update
    rows = query.get_compiler(self.db).execute_sql(ROW_COUNT)
  File "{LIB}/opentelemetry/instrumentation/dbapi/__init__.py", line 880, in traced_execution
    return query_method(*args, **kwargs)
  File "{LIB}/django/db/backends/sqlite3/base.py", line 360, in execute
    return super().execute(query, params)
django.db.utils.OperationalError: interrupted
'''
WRAPPER_ONLY = f'''Traceback (most recent call last):
  File "{LIB}/opentelemetry/trace/__init__.py", line 602, in use_span
    yield span
  File "{LIB}/django/db/backends/sqlite3/base.py", line 360, in execute
    return super().execute(query, params)
sqlite3.OperationalError: interrupted
'''


def test_the_last_traceback_is_read_and_library_runs_are_folded():
    assert [f.function for f in frames(WRAPPED)] == [
        "finalize_order",
        "_write_confirmation",
        "update",
        "traced_execution",
        "execute",
    ]
    assert folded_lines(WRAPPED) == (
        "orders/tasks.py:73 in finalize_order: services.order_finalize(order_id=uuid.UUID(order_id))",
        'orders/services.py:166 in _write_confirmation: if _update(rows, fault="order_db_timeout", '
        "confirmation_code=code):",
        "… 3 library frames (django, opentelemetry)",
    )


TIMED_BY_THREADLINE = f'''Traceback (most recent call last):
  File "/srv/shop/instrumentation/statements.py", line 281, in _fold_or_trace
    result = query_method(*args, **kwargs)
  File "{LIB}/django/db/backends/sqlite3/base.py", line 360, in execute
    return super().execute(query, params)
sqlite3.OperationalError: interrupted
'''


def test_threadlines_own_instrumentation_frames_are_not_the_shops():
    """A statement timed before it was made a span has Threadline's frame on top of the
    driver's: still no application frame, so the root cause climbs to the task's stack."""
    assert not any(not frame.library for frame in frames(TIMED_BY_THREADLINE))
    assert folded_lines(TIMED_BY_THREADLINE) == ("… 2 library frames (django, instrumentation)",)


def test_the_root_cause_takes_the_stack_of_the_first_span_on_its_path_reaching_app_code():
    """The statement's own stack holds only the wrapper; the attempt's holds the task."""
    trace = traces.retried_db_timeouts(attempts=1)
    update = next(s for s in trace.spans if s.status == "ERROR" and s.name == "UPDATE")
    run = next(s for s in trace.spans if s.span_id == update.parent_span_id)
    update.events[0]["attributes"]["exception.stacktrace"] = WRAPPER_ONLY
    run.events[0]["attributes"]["exception.stacktrace"] = WRAPPED
    diagnosis = analyze(trace.spans)
    assert diagnosis.root_cause is not None
    assert diagnosis.root_cause.stack[0].startswith("orders/tasks.py:73 in finalize_order")
    text = diagnosis_text(diagnosis)
    assert "stack (application frames, library frames folded):" in text
    assert "      orders/services.py:166 in _write_confirmation" in text


def test_with_no_application_frame_anywhere_the_causes_own_stack_is_shown_folded():
    trace = traces.retried_db_timeouts(attempts=1)
    for span in trace.spans:
        for event in span.events or []:
            event["attributes"]["exception.stacktrace"] = WRAPPER_ONLY
    diagnosis = analyze(trace.spans)
    assert diagnosis.root_cause is not None
    assert diagnosis.root_cause.stack == ("… 2 library frames (django, opentelemetry)",)
