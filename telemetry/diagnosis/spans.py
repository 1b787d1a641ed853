"""What one span says, read the same way by the diagnosis, the waterfall and the text tree:
its error, its HTTP status, the statement it ran or the URL it called, and a short label.

Pure functions of one ``telemetry.models.Span`` row (stored or unsaved).
"""

from __future__ import annotations

import re

from core.text import counted
from instrumentation import attributes
from telemetry.models import Span

NON_QUERY = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")

_LITERALS = (
    (re.compile(r"'(?:[^']|'')*'"), "?"),
    (re.compile(r"%s|\$\d+|(?<![\w:]):\w+"), "?"),
    (re.compile(r"\b\d+(?:\.\d+)?\b"), "?"),
    (re.compile(r"\(\s*\?(?:\s*,\s*\?)*\s*\)"), "(?)"),
    (re.compile(r"\s+"), " "),
)
_TABLE = re.compile(r'^(?:UPDATE|INSERT\s+INTO|DELETE\s+FROM|SELECT\b.*?\bFROM)\s+"?([\w.]+)', re.I | re.S)


# -- errors -------------------------------------------------------------------------------


def exception_event(span: Span) -> dict | None:
    """The attributes of the first exception the span recorded, if it recorded one."""
    for event in span.events or []:
        if event.get("name") == "exception":
            return event.get("attributes") or {}
    return None


def error_of(span: Span) -> tuple[str, str]:
    """(exception type, message) from the span's exception event, else its status."""
    exception = exception_event(span)
    if exception is not None:
        return str(exception.get("exception.type", "")), str(exception.get("exception.message", ""))
    if span.status_message:
        kind, _, message = span.status_message.partition(": ")
        return (kind, message) if message else ("", kind)
    code = http_status(span)
    return (f"HTTP {code}", "") if code else ("", "")


def error_phrase(kind: str, message: str) -> str:
    """``Type: message``, either part left out when empty."""
    return ": ".join(part for part in (kind, message) if part)


def error_text(span: Span) -> str:
    """The span's error as one phrase: ``sqlite3.OperationalError: interrupted``."""
    return error_phrase(*error_of(span))


def http_status(span: Span) -> int | None:
    code = span.attributes.get("http.status_code") or span.attributes.get("http.response.status_code")
    return int(code) if code else None


# -- what the span did --------------------------------------------------------------------


def url_of(span: Span) -> str:
    """The URL an HTTP span called or served ("" for none)."""
    return str(span.attributes.get("http.url") or span.attributes.get("url.full") or "")


def statement_of(span: Span) -> str | None:
    statement = span.attributes.get("db.statement")
    return str(statement) if statement else None


def note(span: Span) -> str:
    """What the span's name leaves out: a statement's text, an outgoing call's URL, the
    statements folded into it."""
    statement = statement_of(span)
    if statement:
        return statement
    if span.kind == "CLIENT" and (url := url_of(span)):
        return url
    return folded_statements(span)


def folded_statements(span: Span) -> str:
    """The fast statements counted on this span instead of exported
    (instrumentation/statements.py), in a phrase: ``12 statements, 3.4 ms (SELECT
    shop_product ×5); wrote UPDATE orders_order, INSERT orders_orderevent ×2``."""
    count = span.attributes.get(attributes.DB_SUMMARY_COUNT)
    if not count:
        return ""
    duration_ms = float(span.attributes.get(attributes.DB_SUMMARY_DURATION_MS, 0))
    phrase = f"{counted(int(count), 'statement')}, {duration_ms:.1f} ms"
    top_count = int(span.attributes.get(attributes.DB_SUMMARY_TOP_COUNT, 0))
    if top_count > 1:
        top = short_statement(str(span.attributes.get(attributes.DB_SUMMARY_TOP_STATEMENT, "")))
        phrase += f" ({top} ×{top_count})"
    if writes := span.attributes.get(attributes.DB_SUMMARY_WRITES):
        # A list as the instrumentation writes it; an uploaded span may hold anything.
        written = ", ".join(map(str, writes)) if isinstance(writes, list | tuple) else str(writes)
        phrase += f"; wrote {written}"
    return phrase


def label(span: Span) -> str:
    """What the span did, in a few words: the statement's verb and table, the URL called."""
    statement = statement_of(span)
    if statement:
        return short_statement(statement)
    url = url_of(span)
    return f"{span.name} {url}" if url and span.kind == "CLIENT" else span.name


def task_name(run: Span) -> str:
    """The Celery task a run (``run/<task>``) or publish span is of."""
    return str(run.attributes.get("celery.task_name") or run.name.removeprefix("run/"))


def attempt_number(run: Span) -> int:
    return int(run.attributes[attributes.TASK_ATTEMPT])


# -- statements ---------------------------------------------------------------------------


def normalize_statement(statement: str) -> str:
    """The statement with literals and parameters as ``?``: equal for the same query shape."""
    for pattern, replacement in _LITERALS:
        statement = pattern.sub(replacement, statement)
    return statement.strip()


def short_statement(statement: str) -> str:
    """``UPDATE orders_order``: the verb and the table."""
    verb = statement.split(None, 1)[0].upper() if statement.strip() else ""
    table = _TABLE.match(statement.strip())
    return f"{verb} {table.group(1)}" if table else verb


def is_query(statement: str) -> bool:
    return not statement.lstrip().upper().startswith(NON_QUERY)
