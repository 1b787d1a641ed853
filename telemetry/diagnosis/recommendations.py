"""What to do about a trace: lock waits, database timeouts (across retries or once), a
dependency down on every retry, N+1 queries and spans slow on their own (definitions in
``telemetry.diagnosis.analysis``). Each recommendation cites its evidence and its spans;
database advice is for the engine the trace ran on (SQLite has no connection pool and no
statement timeout; PostgreSQL has both, and row locks)."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable

from instrumentation import attributes, names
from telemetry.diagnosis.locks import LockWait, engine, is_begin, lock_waits, verb
from telemetry.diagnosis.model import Recommendation
from telemetry.diagnosis.root_cause import attempt_span, error_origins, fault_of
from telemetry.diagnosis.spans import (
    attempt_number,
    error_of,
    error_text,
    is_query,
    label,
    normalize_statement,
    statement_of,
    task_name,
    url_of,
)
from telemetry.diagnosis.text import on_attempts
from telemetry.diagnosis.timing import self_times, wall_ns
from telemetry.models import Span
from telemetry.tree import SpanTree

Tree = SpanTree[Span]

N_PLUS_ONE_MIN = 5
SLOW_SHARE = 0.25  # of the trace's wall time

TIMEOUT_ERROR = re.compile(
    r"timeout|timed out|interrupted|querycanceled|canceling statement|locked|lock wait", re.IGNORECASE
)


def recommendations(tree: Tree) -> tuple[Recommendation, ...]:
    found = lock_contention(tree) + db_timeouts(tree) + failing_calls(tree) + n_plus_one(tree)
    found += lost_processes(tree)
    cited = {span_id for rec in found for span_id in rec.span_ids}
    return tuple(found + slow_spans(tree, cited))


def attempts_of(tree: Tree, spans: Iterable[Span]) -> list[int]:
    runs = (attempt_span(tree, span) for span in spans)
    return sorted({attempt_number(run) for run in runs if run})


# -- lock waits ---------------------------------------------------------------------------

LOCK_ADVICE = {
    "sqlite": (
        "SQLite lets one transaction write at a time, and the holder kept the file's write lock "
        "for its whole transaction: keep write transactions short (no slow statement, no call "
        "to another service inside one) and fix what made the holder slow; the busy timeout "
        "(DATABASES OPTIONS timeout) only bounds the wait. PostgreSQL would lock rows, not the file."
    ),
    "postgresql": (
        "The statement waited for a row another transaction had locked: shorten that transaction, "
        "take rows in one order, set lock_timeout so waiters fail fast instead of queueing; "
        "pg_locks and pg_stat_activity name the holder while it happens."
    ),
}


def lock_contention(tree: Tree) -> list[Recommendation]:
    """One recommendation: the longest wait, its holder, and how many more there were."""
    waits = lock_waits(tree)
    if not waits:
        return []
    found = lock_advice(tree, waits[0], engine(tree))
    if len(waits) > 1:
        more = sum(w.wait_ns for w in waits[1:]) / 1e6
        evidence = f"{found.evidence}; {len(waits) - 1} more lock wait(s), {more:.0f} ms in all"
        ids = found.span_ids + tuple(w.waiter.span_id for w in waits[1:])
        found = Recommendation(found.kind, evidence, found.advice, ids)
    return [found]


def lock_advice(tree: Tree, wait: LockWait, kind: str) -> Recommendation:
    lock = "the database's write lock" if kind == "sqlite" else "a lock"
    if wait.waiter.attributes.get("db.system") == "postgresql" and not is_begin(wait.waiter):
        lock = "a row lock"
    evidence = f"{label(wait.waiter)} on {wait.waiter.service} waited {wait.wait_ns / 1e6:.0f} ms for {lock}"
    if wait.holder is not None:
        evidence += f", held by {holder_phrase(tree, wait.holder)}"
    else:
        evidence += (
            ", held by a transaction outside this trace (another request's or task's: "
            "see that moment's writes)"
        )
    advice = LOCK_ADVICE.get(kind, LOCK_ADVICE["postgresql"])
    ids = (wait.waiter.span_id,) + ((wait.holder.span_id,) if wait.holder else ())
    return Recommendation("lock_contention", evidence, advice, ids)


def holder_phrase(tree: Tree, holder: Span) -> str:
    """``orders-worker's UPDATE orders_order (attempt 1 of orders.finalize_order, failed with
    …, injected fault order_db_timeout)``."""
    run = attempt_span(tree, holder)
    notes = [f"attempt {attempt_number(run)} of {task_name(run)}"] if run is not None else []
    notes += [f"failed with {error_text(holder)}"] if holder.status == "ERROR" else []
    notes += [f"injected fault {fault}"] if (fault := fault_of(tree, holder)) else []
    duration = f"{holder.duration_ns / 1e6:.0f} ms"
    return f"{holder.service}'s {label(holder)} ({', '.join([duration, *notes])})"


# -- a process that died mid-span ------------------------------------------------------


def lost_processes(tree: Tree) -> list[Recommendation]:
    """Spans whose parent never reached the store: the process that ran the parent died
    before ending it (SIGKILL, out of memory, the ``worker_crash`` fault), after the spans
    it had already ended were exported. The run of a task that died shows only so."""
    orphans = [s for s in tree.spans if s.parent_span_id and tree.parent(s) is None]
    if not orphans:
        return []
    lost = sorted({s.parent_span_id for s in orphans})
    first = min(orphans, key=lambda s: s.start_time_ns)
    service, again = lost_run(tree, orphans)
    evidence = (
        f"{len(orphans)} span(s) lost their parent span ({', '.join(lost)}): the {service} "
        f"process running it died before ending it (no end recorded), after {last_act(first)}"
    )
    if again is not None:
        ended = "failed" if again.status == "ERROR" else "ok"
        evidence += f"; {task_name(again)} ran again afterwards ({ended})"
    advice = (
        "A worker process died mid-task (killed: out of memory, SIGKILL, a lost machine). Look at "
        "the worker's log and the machine's memory; the task is only safe to run again if it is "
        "idempotent and acknowledged late (acks_late with task_reject_on_worker_lost)."
    )
    return [Recommendation("worker_lost", evidence, advice, tuple(s.span_id for s in orphans))]


def last_act(orphan: Span) -> str:
    """What the dying process had done, read from a span whose parent it took with it: a
    task run's parent was its publish ("publishing payments.capture_payment"), a server
    span's the call ("calling inventory: POST …"), any other span its own work."""
    if orphan.kind == "CONSUMER":
        return f"publishing {task_name(orphan)}"
    if orphan.kind == "SERVER":
        return f"calling {orphan.service}: {orphan.name}"
    return f"starting {label(orphan)}"


def lost_run(tree: Tree, orphans: list[Span]) -> tuple[str, Span | None]:
    """The service of the process that died, and the task run that came after it (the
    delivery again). A local orphan (a statement, a call) names the service; a server span
    whose caller's client span was lost with the caller does not: then the run delivered
    again after it does."""
    first = min(orphans, key=lambda s: s.start_time_ns)
    # A server span or a task run whose caller's span was lost ran elsewhere: only a local
    # orphan (a statement, a call) was made by the process that died.
    local = Counter(s.service for s in orphans if s.kind not in ("SERVER", "CONSUMER"))
    service = local.most_common(1)[0][0] if local else None
    # What the orphans led to (a task run the dead process published, its report) is not
    # the dead run delivered again.
    downstream = {s.span_id for orphan in orphans for s in (orphan, *tree.descendants(orphan))}
    runs = [
        s
        for s in tree.spans
        if s.name.startswith(names.RUN_PREFIX)
        and s.span_id not in downstream
        and (s.service == service and s.start_time_ns > first.start_time_ns if service else True)
    ]
    again = min(runs, key=lambda s: s.start_time_ns) if runs else None
    return service or (again.service if again else first.service), again


# -- database timeouts --------------------------------------------------------------------


def timed_out_statements(tree: Tree) -> list[Span]:
    """Statements the database stopped: timeout, interrupted, QueryCanceled, locked."""
    return [
        s
        for s in tree.spans
        if s.status == "ERROR" and statement_of(s) and TIMEOUT_ERROR.search(" ".join(error_of(s)))
    ]


def db_timeouts(tree: Tree) -> list[Recommendation]:
    timeouts = timed_out_statements(tree)
    if not timeouts:
        return []
    attempts = attempts_of(tree, timeouts)
    evidence, ids = timeout_evidence(tree, timeouts, attempts), tuple(s.span_id for s in timeouts)
    kind = engine(tree)
    if len(attempts) >= 2:
        advice = "Retrying does not help while the database keeps timing out: " + RETRY_ADVICE.get(
            kind, RETRY_ADVICE["postgresql"]
        )
        return [Recommendation("db_timeout_on_retries", evidence, advice, ids)]
    advice = "A statement hit the database's timeout: " + ONCE_ADVICE.get(kind, ONCE_ADVICE["postgresql"])
    return [Recommendation("db_timeout", evidence, advice, ids)]


RETRY_ADVICE = {
    "sqlite": (
        "SQLite has no connection pool and no statement timeout; the statement ran inside a write "
        "transaction that held the file's write lock until it was stopped, so find why it was slow "
        "(its query plan, the rows it scans), keep write transactions short, check the busy timeout "
        "(DATABASES OPTIONS timeout), and put a circuit breaker in front of the database so attempts "
        "fail fast and back off."
    ),
    "postgresql": (
        "check what holds the rows (pg_locks, pg_stat_activity), the statement_timeout and "
        "lock_timeout against the statement, the connection pool size against the worker's "
        "concurrency, and put a circuit breaker in front of the database so attempts fail fast "
        "and back off."
    ),
}
ONCE_ADVICE = {
    "sqlite": (
        "SQLite stops a statement only by interrupting it or by the busy timeout on its write lock: "
        "check what held the write lock at that moment and why the statement was slow; retries "
        "with backoff cover a one-off."
    ),
    "postgresql": (
        "check what held its rows at that moment (pg_locks) and whether statement_timeout fits "
        "the statement; retries with backoff cover a one-off."
    ),
}


def timeout_evidence(tree: Tree, timeouts: list[Span], attempts: list[int]) -> str:
    first = timeouts[0]
    faults = sorted({f for f in (fault_of(tree, s) for s in timeouts) if f})
    # The attempts may all belong to later timeouts: the first may sit outside any task run.
    run = attempt_span(tree, first)
    where = f" {on_attempts(attempts)} of {task_name(run)}" if attempts and run is not None else ""
    injected = f"; injected fault {', '.join(faults)}" if faults else ""
    return f"{label(first)} on {first.service} failed with {error_text(first)}{where}{injected}"


# -- a dependency down --------------------------------------------------------------------


def failing_calls(tree: Tree) -> list[Recommendation]:
    """Calls to another app that failed in two attempts or more."""
    calls = [s for s in error_origins(tree) if s.kind == "CLIENT" and not statement_of(s)]
    attempts = attempts_of(tree, calls)
    if len(attempts) < 2:
        return []
    url = url_of(calls[0]) or calls[0].name
    evidence = f"{calls[0].service} → {url} failed with {error_text(calls[0])} {on_attempts(attempts)}"
    advice = (
        "The callee was down or unreachable on every retry: check that it runs and where the client "
        "points; a circuit breaker would fail fast while it is down instead of spending the retries."
    )
    ids = tuple(s.span_id for s in calls)
    return [Recommendation("dependency_failing_on_retries", evidence, advice, ids)]


# -- N+1 ----------------------------------------------------------------------------------


def n_plus_one(tree: Tree) -> list[Recommendation]:
    """One recommendation per repeated statement shape, however many places repeat it: a
    loop over batches that does the same N+1 in each is one fix, not one per batch."""
    places: dict[str, list[tuple[Span, int]]] = {}
    repeats: dict[str, list[str]] = defaultdict(list)  # the spans of each shape, for the advice
    for parent in tree.spans:
        children = tree.children(parent)
        folded = parent.attributes.get(attributes.DB_SUMMARY_TOP_STATEMENT)
        if len(children) < N_PLUS_ONE_MIN and not folded:
            continue  # too few statements to repeat (most spans: a leaf)
        # Each statement normalised once (the regular expressions are most of the cost of a
        # span with thousands of statements), its span kept with its shape for the advice.
        by_shape: dict[str, list[str]] = defaultdict(list)
        for child in children:
            statement = statement_of(child)
            if statement and is_query(statement):
                by_shape[normalize_statement(statement)].append(child.span_id)
        shapes = Counter({shape: len(ids) for shape, ids in by_shape.items()})
        # Reads folded into the parent instead of exported (instrumentation/statements.py)
        # still count: the parent names the one repeated most, and how often.
        if folded and is_query(str(folded)):
            shapes[normalize_statement(str(folded))] += int(
                parent.attributes.get(attributes.DB_SUMMARY_TOP_COUNT, 0)
            )
        for shape, count in shapes.items():
            if count >= N_PLUS_ONE_MIN:
                places.setdefault(shape, []).append((parent, count))
                # None of that shape among the children: the repeats were folded into the parent.
                repeats[shape] += by_shape.get(shape) or [parent.span_id]
    return [n_plus_one_advice(shape, found, tuple(repeats[shape])) for shape, found in places.items()]


def n_plus_one_advice(shape: str, places: list[tuple[Span, int]], ids: tuple[str, ...]) -> Recommendation:
    verb = shape.split(None, 1)[0].upper()
    fix = (
        "bulk_create / bulk_update, or one UPDATE … WHERE id IN (…)"
        if verb in {"INSERT", "UPDATE", "DELETE"}
        else "select_related / prefetch_related, or one query with id__in=[…]"
    )
    advice = f"An N+1 query: one statement per row. Fetch or write the rows at once: {fix}."
    return Recommendation("n_plus_one", n_plus_one_evidence(shape, places), advice, ids)


def n_plus_one_evidence(shape: str, places: list[tuple[Span, int]]) -> str:
    """``20 near-identical statements in GET … (shop): SELECT …`` for one place; for more,
    ``N+1 queries in 20 places: 1980 near-identical statements (99 in each) in import batch
    1, import batch 2, import batch 3 and 17 more (shop): INSERT …``."""
    statement = compact(shape)[:160]
    services = ", ".join(dict.fromkeys(parent.service for parent, _ in places))
    if len(places) == 1:
        [(parent, count)] = places
        return f"{count} near-identical statements in {parent.name} ({services}): {statement}"
    counts = [count for _, count in places]
    each = f"{counts[0]} in each" if len(set(counts)) == 1 else f"{min(counts)} to {max(counts)} in each"
    return (
        f"N+1 queries in {len(places)} places: {sum(counts)} near-identical statements ({each}) "
        f"in {place_names([parent.name for parent, _ in places])} ({services}): {statement}"
    )


def place_names(labels: list[str], shown: int = 3) -> str:
    """``a, b, c and 17 more``; a name that repeats, once, as ``a (20 times)``."""
    repeats = Counter(labels)
    distinct = [f"{name} ({repeats[name]} times)" if repeats[name] > 1 else name for name in repeats]
    if len(distinct) <= shown:
        return ", ".join(distinct[:-1]) + (" and " if len(distinct) > 1 else "") + distinct[-1]
    return f"{', '.join(distinct[:shown])} and {len(distinct) - shown} more"


_SELECT_LIST = re.compile(r"^(SELECT\s+(?:DISTINCT\s+)?).+?(\s+FROM\s)", re.IGNORECASE | re.DOTALL)


def compact(statement: str) -> str:
    """A SELECT with its column list as ``…``: what differs between the repeats (the
    table and the filter) fits in a line; Django names every column of the model."""
    return _SELECT_LIST.sub(r"\1…\2", statement, count=1)


# -- slow spans ---------------------------------------------------------------------------


def slow_spans(tree: Tree, cited: set[str]) -> list[Recommendation]:
    """Spans slow on their own; a lock wait is cited by ``lock_contention`` instead."""
    wall = wall_ns(tree.spans) or 1
    found = []
    for span in tree.spans:
        own = self_times(tree)[span.span_id]
        if tree.parent(span) and span.span_id not in cited and own > SLOW_SHARE * wall:
            found.append(slow_span_advice(tree, span, own, wall))
    return found


def slow_span_advice(tree: Tree, span: Span, own: int, wall: int) -> Recommendation:
    children = tree.children(span)
    fault = span.attributes.get(attributes.FAULT_NAME)
    evidence = (
        f"{span.name} on {span.service} spent {own / 1e6:.0f} ms of the trace's {wall / 1e6:.0f} ms "
        + ("with no child span" if not children else f"outside its {len(children)} child span(s)")
        + (f"; injected fault {fault}" if fault else "")
    )
    if span.name.startswith(names.GATEWAY_SPAN_PREFIX):
        latency = span.attributes.get(attributes.GATEWAY_LATENCY_MS)
        advice = (
            f"The card gateway ({span.attributes.get(attributes.GATEWAY_NAME, 'gateway')}) took "
            f"{float(latency or own / 1e6):.0f} ms to answer: a slow provider. Give the call a timeout, "
            "show the customer a pending state instead of holding the request, and ask the provider."
        )
    elif statement_of(span) and verb(span) in {"COMMIT", "ROLLBACK", "RELEASE", "SAVEPOINT"}:
        advice = "Transaction control was slow: a disk sync or a checkpoint, not a query; check the storage."
    elif statement_of(span):
        advice = slow_statement_advice(engine(tree))
    elif span.kind == "CLIENT":
        advice = (
            "The callee answered slowly and is not traced below this call: look at it; keep a read timeout."
        )
    else:
        advice = (
            "Time spent in no traced call: look at the external call this span makes (a gateway, an "
            "API, a sleep), give it a timeout, and a span of its own to see it next time."
        )
    kind = "slow_leaf" if not children else "uninstrumented_time"
    return Recommendation(kind, evidence, advice, (span.span_id,))


def slow_statement_advice(engine_name: str) -> str:
    """What to do about a statement slow on its own, for the engine it ran on."""
    if engine_name == "sqlite":
        return (
            "The statement itself is slow: EXPLAIN QUERY PLAN it and check its indexes (a SCAN of a "
            "large table is the usual cause); SQLite has no row locks, so the time is its own work."
        )
    if engine_name == "postgresql":
        return (
            "The statement itself is slow: EXPLAIN (ANALYZE, BUFFERS) it, check its indexes, and "
            "pg_locks for a row lock it waited on."
        )
    return "The statement itself is slow: EXPLAIN it and check its indexes and what locks its rows."
