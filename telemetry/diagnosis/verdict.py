"""The verdict of a diagnosis: which service is at fault, in which operation, and the cause
in a few words from a fixed vocabulary, with one sentence a developer acts on.

It is what the failure catalogue compares (``simulator.catalogue``): the root cause when
the trace holds an error, read through what the span is (a statement the database
stopped, the card gateway's answer, a call that could not connect or that the callee
refused, a task's exception); else the trace's trouble, from the recommendations (a
worker that died mid-task, a lock wait, an N+1 pattern, the card gateway, a slow
statement, time in a service's own code).
The service at fault is the callee for a failed call: the shop's call to payments failing
to connect is payments' outage, seen from the shop.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

from instrumentation import attributes, names
from telemetry.diagnosis.model import Recommendation, RootCause
from telemetry.diagnosis.recommendations import TIMEOUT_ERROR, lost_run
from telemetry.diagnosis.root_cause import fault_of
from telemetry.diagnosis.spans import error_text, exception_event, http_status, label, statement_of, url_of
from telemetry.models import Span
from telemetry.tree import SpanTree

Tree = SpanTree[Span]

DB_TIMEOUT = "database timeout"
LOCK_CONTENTION = "lock contention"
CARD_DECLINED = "card declined"
UNREACHABLE = "dependency unreachable"
DEPENDENCY_5XX = "dependency answered 5xx"
REFUSED = "request refused"
BROKER_DOWN = "broker unreachable"
TASK_FAILED = "task failed"
EXCEPTION = "exception"
SLOW_GATEWAY = "slow card gateway"
SLOW_QUERY = "slow query"
N_PLUS_ONE = "N+1 queries"
SLOW_CODE = "slow service"
WORKER_LOST = "worker died mid-task"
NOTHING = "no problem found"

BROKER_SYSTEMS = {"redis"}
PUBLISH = "apply_async/"  # the Celery instrumentor's publish span


@dataclass(frozen=True)
class Verdict:
    service: str
    operation: str
    cause: str  # one of the constants above
    sentence: str
    fault: str = ""  # the injected fault (``fault.name``) over the span blamed, if any


def verdict(tree: Tree, cause: RootCause | None, found: tuple[Recommendation, ...]) -> Verdict:
    if cause is not None:
        return error_verdict(tree, tree.by_id[cause.span_id], cause)
    return slow_verdict(tree, found)


# -- an error -----------------------------------------------------------------------------


def error_verdict(tree: Tree, span: Span, cause: RootCause) -> Verdict:
    error = error_text(span)
    fault_name = cause.fault or ""
    fault = f" (injected fault {fault_name})" if fault_name else ""
    where = f" on attempt {cause.attempt} of {cause.task}" if cause.attempt is not None else ""
    if statement_of(span) and TIMEOUT_ERROR.search(error):
        kind = LOCK_CONTENTION if "locked" in error.lower() else DB_TIMEOUT
        ms = span.duration_ns / 1e6
        sentence = (
            f"{span.service}: {label(span)} was stopped by the database after {ms:.0f} ms{where} "
            f"({error}){fault}"
        )
        return Verdict(span.service, label(span), kind, sentence, fault_name)
    if span.name.startswith(names.GATEWAY_SPAN_PREFIX):
        reason = span.status_message or error
        sentence = f"{span.service}: the card gateway declined the {span.name.split()[-1]}: {reason}{fault}"
        return Verdict(span.service, span.name, CARD_DECLINED, sentence, fault_name)
    if is_broker_call(span):
        return broker_verdict(tree, span, error)
    if span.kind == "CLIENT" and url_of(span):
        return call_verdict(tree, span, error, fault_name, where)
    code = http_status(span)
    if span.kind == "SERVER" and code and code >= 500 and exception_event(span) is None:
        sentence = f"{span.service}: {span.name} answered HTTP {code}{fault}"
        return Verdict(span.service, span.name, DEPENDENCY_5XX, sentence, fault_name)
    kind = TASK_FAILED if cause.task else EXCEPTION
    sentence = f"{span.service}: {label(span)} raised {error}{where}{fault}"
    return Verdict(span.service, label(span), kind, sentence, fault_name)


def is_broker_call(span: Span) -> bool:
    return str(span.attributes.get("db.system") or "") in BROKER_SYSTEMS or span.name.startswith(PUBLISH)


def broker_verdict(tree: Tree, first: Span, error: str) -> Verdict:
    """Redis down: the failed publish of a task is what matters (a throttle's read fails
    open), and whether the task was published again later (the outbox relay). Kombu's
    commands (``PING`` as it opens a channel, ``LPUSH`` of the message) run below the
    instrumentor's ``apply_async`` span or beside it, under the same parent."""
    failed = sorted(
        (s for s in tree.spans if s.status == "ERROR" and is_redis_command(s)), key=lambda s: s.start_time_ns
    )
    found = next(((command, publish) for command in failed if (publish := publish_of(tree, command))), None)
    if found is None:
        sentence = f"{first.service}: {label(first)} could not reach the broker ({error})"
        return Verdict(first.service, label(first), BROKER_DOWN, sentence)
    command, publish = found
    sentence = f"{publish.service}: {publish.name} could not reach the broker ({error_text(command)})"
    again = [
        s
        for s in tree.spans
        if s.name == publish.name and s.start_time_ns > command.end_time_ns and s.status != "ERROR"
    ]
    if again:
        later = (min(a.start_time_ns for a in again) - command.start_time_ns) / 1e6
        sentence += f"; the outbox published it again {later:.0f} ms later"
    else:
        sentence += "; not published again in this trace (its outbox row waits for reconcile)"
    return Verdict(publish.service, publish.name, BROKER_DOWN, sentence)


def is_redis_command(span: Span) -> bool:
    return str(span.attributes.get("db.system") or "") in BROKER_SYSTEMS


def publish_of(tree: Tree, command: Span) -> Span | None:
    """The task publish a Redis command served: its ``apply_async`` ancestor, or the
    latest ``apply_async`` sibling that started before it."""
    above = next((s for s in tree.lineage(command) if s.name.startswith(PUBLISH)), None)
    if above is not None:
        return above
    parent = tree.parent(command)
    siblings = tree.children(parent) if parent else []
    before = [s for s in siblings if s.name.startswith(PUBLISH) and s.start_time_ns <= command.start_time_ns]
    return max(before, key=lambda s: s.start_time_ns) if before else None


def call_verdict(tree: Tree, span: Span, error: str, fault_name: str, where: str) -> Verdict:
    """A call to another service that failed: the callee is the service at fault."""
    server = next((c for c in tree.children(span) if c.kind == "SERVER"), None)
    callee = server.service if server else callee_of(url_of(span))
    operation = server.name if server else f"{span.name} {urlsplit(url_of(span)).path}"
    code = http_status(server or span) or http_status(span)
    callee_fault = server.attributes.get(attributes.FAULT_NAME) if server else None
    fault_name = fault_name or str(callee_fault or "")
    fault = f" (injected fault {fault_name})" if fault_name else ""
    if code is None:
        kind, what = UNREACHABLE, f"could not reach {callee} ({error})"
    elif code >= 500:
        kind, what = DEPENDENCY_5XX, f"got HTTP {code} from {callee}"
    else:
        kind, what = REFUSED, f"was refused by {callee} with HTTP {code}"
    sentence = f"{span.service}: {operation} {what}{where}{fault}"
    return Verdict(callee, operation, kind, sentence, fault_name)


def callee_of(url: str) -> str:
    """The app a URL's path belongs to (``TELEMETRY_SERVICE_BY_PATH``), else its host."""
    parts = urlsplit(url)
    for prefix, service in settings.TELEMETRY_SERVICE_BY_PATH.items():
        if parts.path.startswith(prefix):
            return service
    return parts.hostname or url


# -- no error: where the time went --------------------------------------------------------

SLOW_ORDER = ("worker_lost", "lock_contention", "n_plus_one", "slow_leaf", "uninstrumented_time")


def slow_verdict(tree: Tree, found: tuple[Recommendation, ...]) -> Verdict:
    ranked = sorted(
        (r for r in found if r.kind in SLOW_ORDER and r.span_ids and r.span_ids[0] in tree.by_id),
        key=lambda r: SLOW_ORDER.index(r.kind),
    )
    if not ranked:
        return Verdict("", "", NOTHING, "no error and no slow span in the trace")
    rec = ranked[0]
    span = tree.by_id[rec.span_ids[0]]
    fault = fault_of(tree, span) or ""
    if rec.kind == "worker_lost":
        service, again = lost_run(tree, [tree.by_id[i] for i in rec.span_ids])
        return Verdict(service, again.name if again else "a task run", WORKER_LOST, rec.evidence, fault)
    if rec.kind == "lock_contention":
        return Verdict(span.service, label(span), LOCK_CONTENTION, rec.evidence, fault)
    if rec.kind == "n_plus_one":
        parent = tree.parent(span) if statement_of(span) else span
        owner = parent or span
        return Verdict(owner.service, owner.name, N_PLUS_ONE, rec.evidence, fault_of(tree, owner) or "")
    if span.name.startswith(names.GATEWAY_SPAN_PREFIX):
        return Verdict(span.service, span.name, SLOW_GATEWAY, rec.evidence, fault)
    if statement_of(span):
        return Verdict(span.service, label(span), SLOW_QUERY, rec.evidence, fault)
    return Verdict(span.service, span.name, SLOW_CODE, rec.evidence, fault)
