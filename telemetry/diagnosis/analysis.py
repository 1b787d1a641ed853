"""Diagnosis of one trace, computed from its spans alone: where the time went, which error
came first, how it reached the order, and what to do about it.

Pure functions over ``telemetry.models.Span`` rows (stored or unsaved): no database access.
Callers pass one trace, e.g. ``analyze(trace_spans(trace_id))``.

Definitions:

- **Self time** of a span: its duration minus the union of its children's intervals, each
  clipped to the span (overlapping children count once; a Celery run that outlives the
  publish that caused it counts only inside the publish).
- **Share** of a service: its spans' summed self time over the summed self time of every
  span in the trace (``total_ns``), so shares add up to 1. ``total_ns`` is not the wall
  time: it is more when spans overlap (concurrent work, a task running after its publisher
  ended) and less when nothing ran (a retry's countdown).
- **Bottleneck**: the service whose share is over one half, else none.
- **Root cause**: among error spans with no error child (where an error started), the
  earliest to start, the deepest at equal start. Its attempt is the ``celery.attempt`` of
  the span or its nearest ancestor; its fault the nearest ``fault.name``.
- **Propagation**: the spans from the root cause up to the trace root, then what followed
  in the trace: later attempts of the same task, compensation and what it undid.
- **Recommendations** (``kind``): statements the database stopped (timeout, interrupted,
  QueryCanceled, locked) in two attempts or more (``db_timeout_on_retries``: pool size,
  timeouts, circuit breaker) or fewer (``db_timeout``); calls to another app failing in two
  attempts or more (``dependency_failing_on_retries``); ``n_plus_one``: at least
  ``N_PLUS_ONE_MIN`` (5) statements under one parent, identical once literals and
  parameters are normalised; a span below the root whose self time exceeds ``SLOW_SHARE``
  (25%) of the trace's wall time: ``slow_leaf`` when it has no children (the external call
  to look at), ``uninstrumented_time`` otherwise.

``summary_line`` is the one line the order's admin page shows; ``diagnosis_text`` is what
``manage.py trace --analyze`` prints; ``Diagnosis.to_dict()`` is its JSON.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass

from instrumentation import attributes
from telemetry.models import Span

BOTTLENECK_SHARE = 0.5
N_PLUS_ONE_MIN = 5
SLOW_SHARE = 0.25  # of the trace's wall time

# Span names the orders app's tasks and APIs produce (names only: telemetry imports no app).
COMPENSATION_SPANS = ("run/orders.compensate_order", "POST api/orders/<uuid:order_id>/fail/")
PAYMENT_CANCEL_ROUTE = "api/payments/payments/<uuid:order_id>/cancel/"
PAYMENT_CAPTURE_ROUTE = "api/payments/payments/<uuid:order_id>/capture/"
PAYMENT_AUTHORIZE_ROUTE = "api/payments/authorizations/"
STOCK_RELEASE_ROUTE = "api/inventory/reservations/<uuid:order_id>/release/"
RECONCILE_SPAN = "orders.reconcile order"

TIMEOUT_ERROR = re.compile(
    r"timeout|timed out|interrupted|querycanceled|canceling statement|locked|lock wait", re.IGNORECASE
)
NON_QUERY = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


@dataclass(frozen=True)
class ServiceTime:
    service: str
    self_ns: int
    share: float


@dataclass(frozen=True)
class RootCause:
    span_id: str
    service: str
    name: str
    label: str  # "UPDATE orders_order", "POST http://…/capture/", else the span's name
    statement: str | None
    exception_type: str
    exception_message: str
    attempt: int | None
    task: str | None
    attempts: int | None  # how many attempts of ``task`` the trace holds
    fault: str | None
    repeated_on: tuple[int, ...]  # later attempts that failed the same way


@dataclass(frozen=True)
class Step:
    span_id: str
    service: str
    name: str
    what: str


@dataclass(frozen=True)
class Propagation:
    path: tuple[Step, ...]  # root cause first, trace root last
    after: tuple[Step, ...]  # what followed, in order


@dataclass(frozen=True)
class Recommendation:
    kind: str
    evidence: str
    advice: str
    span_ids: tuple[str, ...]


@dataclass(frozen=True)
class Diagnosis:
    trace_id: str
    wall_ns: int
    total_ns: int
    services: tuple[ServiceTime, ...]  # largest share first
    bottleneck: str | None
    root_cause: RootCause | None
    propagation: Propagation
    outcome: tuple[str, ...]  # short phrases: "gave up after 4 attempts", "order failed"
    recommendations: tuple[Recommendation, ...]

    def to_dict(self) -> dict:
        return {**asdict(self), "summary": summary_line(self)}


class Tree:
    """Parent and child lookups over one trace; a span whose parent is absent is a root."""

    def __init__(self, spans: Iterable[Span]) -> None:
        self.spans = sorted(spans, key=lambda s: s.start_time_ns)
        self.by_id = {span.span_id: span for span in self.spans}
        self.children: dict[str, list[Span]] = defaultdict(list)
        for span in self.spans:
            if self.parent(span):
                self.children[span.parent_span_id].append(span)

    def parent(self, span: Span) -> Span | None:
        return self.by_id.get(span.parent_span_id) if span.parent_span_id else None

    def lineage(self, span: Span) -> Iterator[Span]:
        """The span, then its ancestors up to the root."""
        seen = set()
        while span is not None and span.span_id not in seen:
            seen.add(span.span_id)
            yield span
            span = self.parent(span)

    def depth(self, span: Span) -> int:
        return sum(1 for _ in self.lineage(span)) - 1

    def descendants(self, span: Span) -> Iterator[Span]:
        for child in self.children.get(span.span_id, []):
            yield child
            yield from self.descendants(child)

    def nearest(self, span: Span, key: str) -> Span | None:
        """The span or its nearest ancestor that carries attribute ``key``."""
        return next((s for s in self.lineage(span) if s.attributes.get(key) is not None), None)


# -- time ---------------------------------------------------------------------------------


def union_ns(intervals: Iterable[tuple[int, int]]) -> int:
    """Length covered by the intervals, overlaps counted once."""
    covered, reach = 0, None
    for start, end in sorted(intervals):
        if reach is None or start > reach:
            covered, reach = covered + end - start, end
        elif end > reach:
            covered, reach = covered + end - reach, end
    return covered


def self_time_ns(span: Span, children: Iterable[Span]) -> int:
    """The span's duration not covered by its children (each clipped to the span)."""
    clipped = [
        (max(c.start_time_ns, span.start_time_ns), min(c.end_time_ns, span.end_time_ns)) for c in children
    ]
    duration = span.end_time_ns - span.start_time_ns
    return max(0, duration - union_ns((s, e) for s, e in clipped if e > s))


def service_times(tree: Tree) -> tuple[ServiceTime, ...]:
    totals: Counter[str] = Counter()
    for span in tree.spans:
        totals[span.service] += self_time_ns(span, tree.children.get(span.span_id, []))
    overall = sum(totals.values()) or 1
    ranked = sorted(totals.items(), key=lambda item: (-item[1], item[0]))
    return tuple(ServiceTime(service, ns, ns / overall) for service, ns in ranked)


def bottleneck(services: Iterable[ServiceTime]) -> str | None:
    return next((s.service for s in services if s.share > BOTTLENECK_SHARE), None)


def wall_ns(spans: list[Span]) -> int:
    return max(s.end_time_ns for s in spans) - min(s.start_time_ns for s in spans) if spans else 0


# -- errors -------------------------------------------------------------------------------


def error_of(span: Span) -> tuple[str, str]:
    """(exception type, message) from the span's exception event, else its status."""
    for event in span.events:
        if event.get("name") == "exception":
            attrs = event.get("attributes", {})
            return str(attrs.get("exception.type", "")), str(attrs.get("exception.message", ""))
    if span.status_message:
        kind, _, message = span.status_message.partition(": ")
        return (kind, message) if message else ("", kind)
    code = http_status(span)
    return (f"HTTP {code}", "") if code else ("", "")


def error_origins(tree: Tree) -> list[Span]:
    """Error spans with no error child: where each error started."""
    errors = [s for s in tree.spans if s.status == "ERROR"]
    return [s for s in errors if not any(c.status == "ERROR" for c in tree.children.get(s.span_id, []))]


def first_error(tree: Tree) -> Span | None:
    origins = error_origins(tree)
    return min(origins, key=lambda s: (s.start_time_ns, -tree.depth(s))) if origins else None


def attempt_span(tree: Tree, span: Span) -> Span | None:
    """The task run (span carrying ``celery.attempt``) the span belongs to."""
    return tree.nearest(span, attributes.TASK_ATTEMPT)


def task_name(run: Span) -> str:
    return str(run.attributes.get("celery.task_name") or run.name.removeprefix("run/"))


def attempt_number(run: Span) -> int:
    return int(run.attributes[attributes.TASK_ATTEMPT])


def task_runs(tree: Tree, task: str) -> list[Span]:
    """The runs of one task, in attempt order."""
    runs = [s for s in tree.spans if attributes.TASK_ATTEMPT in s.attributes and task_name(s) == task]
    return sorted(runs, key=attempt_number)


def attempt_error(tree: Tree, run: Span) -> Span | None:
    """Where this attempt's error started (not counting later attempts nested under it)."""
    own = [s for s in error_origins(tree) if attempt_span(tree, s) is run]
    return min(own, key=lambda s: s.start_time_ns) if own else None


def fault_of(tree: Tree, span: Span) -> str | None:
    holder = tree.nearest(span, attributes.FAULT_NAME)
    return str(holder.attributes[attributes.FAULT_NAME]) if holder else None


# -- statements ---------------------------------------------------------------------------

_LITERALS = (
    (re.compile(r"'(?:[^']|'')*'"), "?"),
    (re.compile(r"%s|\$\d+|(?<![\w:]):\w+"), "?"),
    (re.compile(r"\b\d+(?:\.\d+)?\b"), "?"),
    (re.compile(r"\(\s*\?(?:\s*,\s*\?)*\s*\)"), "(?)"),
    (re.compile(r"\s+"), " "),
)
_TABLE = re.compile(r'^(?:UPDATE|INSERT\s+INTO|DELETE\s+FROM|SELECT\b.*?\bFROM)\s+"?([\w.]+)', re.I | re.S)


def normalize_statement(statement: str) -> str:
    """The statement with literals and parameters as ``?``: equal for the same query shape."""
    for pattern, replacement in _LITERALS:
        statement = pattern.sub(replacement, statement)
    return statement.strip()


def statement_of(span: Span) -> str | None:
    statement = span.attributes.get("db.statement")
    return str(statement) if statement else None


def short_statement(statement: str) -> str:
    """``UPDATE orders_order``: the verb and the table."""
    verb = statement.split(None, 1)[0].upper() if statement.strip() else ""
    table = _TABLE.match(statement.strip())
    return f"{verb} {table.group(1)}" if table else verb


def is_query(statement: str) -> bool:
    return not statement.lstrip().upper().startswith(NON_QUERY)


# -- root cause ---------------------------------------------------------------------------


def same_failure(a: Span, b: Span) -> bool:
    same_statement = normalize_statement(statement_of(a) or "") == normalize_statement(statement_of(b) or "")
    return (a.service, a.name, error_of(a)[0]) == (b.service, b.name, error_of(b)[0]) and same_statement


def repeated_on(tree: Tree, cause: Span, attempt: int | None) -> tuple[int, ...]:
    later = set()
    for span in error_origins(tree):
        run = attempt_span(tree, span)
        if span is not cause and run and same_failure(span, cause):
            later.add(attempt_number(run))
    return tuple(sorted(n for n in later if attempt is None or n > attempt))


def label(span: Span) -> str:
    """What the span did, in a few words: the statement's verb and table, the URL called."""
    statement = statement_of(span)
    url = span.attributes.get("http.url") or span.attributes.get("url.full")
    if statement:
        return short_statement(statement)
    return f"{span.name} {url}" if url and span.kind == "CLIENT" else span.name


def root_cause(tree: Tree) -> RootCause | None:
    span = first_error(tree)
    if span is None:
        return None
    run = attempt_span(tree, span)
    attempt = attempt_number(run) if run else None
    task = task_name(run) if run else None
    kind, message = error_of(span)
    return RootCause(
        span_id=span.span_id,
        service=span.service,
        name=span.name,
        label=label(span),
        statement=statement_of(span),
        exception_type=kind,
        exception_message=message,
        attempt=attempt,
        task=task,
        attempts=attempt_number(task_runs(tree, task)[-1]) if task else None,
        fault=fault_of(tree, span),
        repeated_on=repeated_on(tree, span, attempt),
    )


# -- propagation --------------------------------------------------------------------------


def describe(span: Span) -> str:
    attempt = span.attributes.get(attributes.TASK_ATTEMPT)
    url = span.attributes.get("http.url") or span.attributes.get("url.full")
    text = (f"attempt {attempt}: " if attempt is not None else "") + (f"→ {url} " if url else "")
    return text + (error_text(span) if span.status == "ERROR" else "ok")


def error_text(span: Span) -> str:
    kind, message = error_of(span)
    fault = span.attributes.get(attributes.FAULT_NAME)
    return f"ERROR {kind}: {message}".rstrip(": ") + (f" (fault {fault})" if fault else "")


def step(span: Span, what: str) -> Step:
    return Step(span_id=span.span_id, service=span.service, name=span.name, what=what)


def error_path(tree: Tree, cause: Span) -> tuple[Step, ...]:
    return tuple(step(span, describe(span)) for span in tree.lineage(cause))


Timed = tuple[int, Step]  # a step and when it happened, to put the steps in order


def later_attempts(tree: Tree, cause: RootCause) -> list[Timed]:
    steps = []
    for run in task_runs(tree, cause.task or ""):
        attempt = attempt_number(run)
        if cause.attempt is not None and attempt > cause.attempt:
            steps.append((run.start_time_ns, step(run, attempt_outcome(tree, run, attempt))))
    return steps


def attempt_outcome(tree: Tree, run: Span, attempt: int) -> str:
    if run.status != "ERROR":
        return f"retried: attempt {attempt} succeeded"
    origin = attempt_error(tree, run) or run
    fault = fault_of(tree, origin)
    kind, message = error_of(origin)
    text = f"retried: attempt {attempt} failed at {label(origin)}: {kind}: {message}".rstrip(": ")
    return text + (f" (fault {fault})" if fault else "")


def answered_ok(tree: Tree, route: str) -> bool:
    """A server span of ``route`` in the trace answered without error."""
    return any(
        s.kind == "SERVER"
        and s.name.endswith(route)
        and s.status != "ERROR"
        and int(http_status(s) or 200) < 400
        for s in tree.spans
    )


def http_status(span: Span) -> int | None:
    code = span.attributes.get("http.status_code") or span.attributes.get("http.response.status_code")
    return int(code) if code else None


def payment_undone(tree: Tree) -> str:
    """What cancelling the payment did: refund a capture, void an authorisation, or nothing."""
    if answered_ok(tree, PAYMENT_CAPTURE_ROUTE):
        return "payment refunded"
    return "payment voided" if answered_ok(tree, PAYMENT_AUTHORIZE_ROUTE) else "no payment to void"


def undo_steps(tree: Tree, compensation: Span) -> list[Timed]:
    """The payment cancelled and the stock released under a compensation span."""
    done = {PAYMENT_CANCEL_ROUTE: payment_undone(tree), STOCK_RELEASE_ROUTE: "stock released"}
    steps = []
    for span in tree.descendants(compensation):
        route = next((r for r in done if span.kind == "SERVER" and span.name.endswith(r)), None)
        if route:
            what = done[route] if span.status != "ERROR" else f"{done[route]}: FAILED"
            steps.append((span.start_time_ns, step(span, what)))
    return steps


def compensation_steps(tree: Tree, after_ns: int) -> list[Timed]:
    steps: list[Timed] = []
    for span in tree.spans:
        if span.name in COMPENSATION_SPANS and span.start_time_ns >= after_ns:
            ok = span.status != "ERROR"
            what = "compensation ran" if ok else f"compensation {describe(span)}"
            steps += [(span.start_time_ns, step(span, what)), *undo_steps(tree, span)]
            if ok:  # the compensation service ends by marking the order failed
                steps.append((span.end_time_ns, step(span, "order failed")))
    return steps


def reconcile_steps(tree: Tree, after_ns: int) -> list[Timed]:
    return [
        (span.start_time_ns, step(span, "reconcile pushed the order on"))
        for span in tree.spans
        if span.name == RECONCILE_SPAN and span.start_time_ns >= after_ns
    ]


def propagation(tree: Tree, cause: RootCause | None) -> Propagation:
    if cause is None:
        return Propagation(path=(), after=())
    span = tree.by_id[cause.span_id]
    after = later_attempts(tree, cause) + reconcile_steps(tree, span.start_time_ns)
    after += compensation_steps(tree, span.start_time_ns)
    ordered = tuple(s for _, s in sorted(after, key=lambda timed: timed[0]))
    return Propagation(path=error_path(tree, span), after=ordered)


def outcome(tree: Tree, cause: RootCause | None, after: tuple[Step, ...]) -> tuple[str, ...]:
    compensated = [s.what for s in after if s.what.startswith(("payment ", "no payment ", "stock "))]
    phrases = retry_outcome(tree, cause, after)
    phrases += ["compensated: " + ", ".join(compensated)] if compensated else []
    phrases += ["order failed"] if any(s.what == "order failed" for s in after) else []
    return tuple(phrases) + request_outcome(tree, cause)


def retry_outcome(tree: Tree, cause: RootCause | None, after: tuple[Step, ...]) -> list[str]:
    runs = task_runs(tree, cause.task) if cause and cause.task else []
    if not runs:
        return []
    last, number = runs[-1], attempt_number(runs[-1])
    if last.status == "ERROR" and any(s.what == "compensation ran" for s in after):
        return [f"gave up after {number} attempts"]
    if last.status != "ERROR" and number > (cause.attempt or 0):
        return [f"recovered on attempt {number}"]
    return []


def request_outcome(tree: Tree, cause: RootCause | None) -> tuple[str, ...]:
    """The trace root answered an error: say so (a checkout answered 503)."""
    if cause is None:
        return ()
    root = list(tree.lineage(tree.by_id[cause.span_id]))[-1]
    code = http_status(root)
    if root.kind == "SERVER" and code and code >= 400:
        return (f"{root.name} answered {code}",)
    return ()


# -- recommendations ----------------------------------------------------------------------


def attempts_of(tree: Tree, spans: Iterable[Span]) -> list[int]:
    runs = (attempt_span(tree, span) for span in spans)
    return sorted({attempt_number(run) for run in runs if run})


def on_attempts(values: list[int]) -> str:
    return f"on attempt{'s' if len(values) > 1 else ''} {ranges(values)}"


def timed_out_statements(tree: Tree) -> list[Span]:
    """Statements the database stopped: timeout, interrupted, QueryCanceled, locked."""
    return [
        s
        for s in tree.spans
        if s.status == "ERROR" and statement_of(s) and TIMEOUT_ERROR.search(" ".join(error_of(s)))
    ]


def timeout_evidence(tree: Tree, timeouts: list[Span], attempts: list[int]) -> str:
    first = timeouts[0]
    kind, message = error_of(first)
    faults = sorted({f for f in (fault_of(tree, s) for s in timeouts) if f})
    where = f" {on_attempts(attempts)} of {task_name(attempt_span(tree, first))}" if attempts else ""
    injected = f"; injected fault {', '.join(faults)}" if faults else ""
    return f"{label(first)} on {first.service} failed with {kind}: {message}{where}{injected}"


def db_timeouts(tree: Tree) -> list[Recommendation]:
    timeouts = timed_out_statements(tree)
    if not timeouts:
        return []
    attempts = attempts_of(tree, timeouts)
    evidence, ids = timeout_evidence(tree, timeouts, attempts), tuple(s.span_id for s in timeouts)
    if len(attempts) >= 2:
        advice = (
            "Retrying does not help while the database keeps timing out: check the connection pool "
            "size against the worker's concurrency, the statement and lock timeouts (PostgreSQL "
            "statement_timeout / lock_timeout, SQLite busy timeout) and what holds the locks, and "
            "put a circuit breaker in front of the database so attempts fail fast and back off."
        )
        return [Recommendation("db_timeout_on_retries", evidence, advice, ids)]
    advice = (
        "A statement hit the database's timeout: check what held its rows or the lock at that "
        "moment and whether the timeout fits the statement; retries with backoff cover a one-off."
    )
    return [Recommendation("db_timeout", evidence, advice, ids)]


def failing_calls(tree: Tree) -> list[Recommendation]:
    """Calls to another app that failed in two attempts or more."""
    calls = [s for s in error_origins(tree) if s.kind == "CLIENT" and not statement_of(s)]
    attempts = attempts_of(tree, calls)
    if len(attempts) < 2:
        return []
    kind, message = error_of(calls[0])
    url = calls[0].attributes.get("http.url") or calls[0].attributes.get("url.full") or calls[0].name
    evidence = f"{calls[0].service} → {url} failed with {kind}: {message} {on_attempts(attempts)}"
    advice = (
        "The callee was down or unreachable on every retry: check that it runs and where the client "
        "points; a circuit breaker would fail fast while it is down instead of spending the retries."
    )
    ids = tuple(s.span_id for s in calls)
    return [Recommendation("dependency_failing_on_retries", evidence, advice, ids)]


def n_plus_one(tree: Tree) -> list[Recommendation]:
    found = []
    for parent_id, children in tree.children.items():
        shapes = Counter(normalize_statement(st) for st in map(statement_of, children) if st and is_query(st))
        for shape, count in shapes.items():
            if count >= N_PLUS_ONE_MIN:
                found.append(n_plus_one_advice(tree, tree.by_id[parent_id], shape, count))
    return found


def n_plus_one_advice(tree: Tree, parent: Span, shape: str, count: int) -> Recommendation:
    verb = shape.split(None, 1)[0].upper()
    fix = (
        "bulk_create / bulk_update, or one UPDATE … WHERE id IN (…)"
        if verb in {"INSERT", "UPDATE", "DELETE"}
        else "select_related / prefetch_related, or one query with id__in=[…]"
    )
    evidence = f"{count} near-identical statements in {parent.name} ({parent.service}): {shape[:160]}"
    advice = f"An N+1 query: one statement per row. Fetch or write the rows at once: {fix}."
    children = tree.children[parent.span_id]
    ids = tuple(c.span_id for c in children if normalize_statement(statement_of(c) or "") == shape)
    return Recommendation("n_plus_one", evidence, advice, ids)


def slow_spans(tree: Tree, cited: set[str]) -> list[Recommendation]:
    wall = wall_ns(tree.spans) or 1
    found = []
    for span in tree.spans:
        own = self_time_ns(span, tree.children.get(span.span_id, []))
        if tree.parent(span) and span.span_id not in cited and own > SLOW_SHARE * wall:
            found.append(slow_span_advice(tree, span, own, wall))
    return found


def slow_span_advice(tree: Tree, span: Span, own: int, wall: int) -> Recommendation:
    children = tree.children.get(span.span_id, [])
    fault = span.attributes.get(attributes.FAULT_NAME)
    evidence = (
        f"{span.name} on {span.service} spent {own / 1e6:.0f} ms of the trace's {wall / 1e6:.0f} ms "
        + ("with no child span" if not children else f"outside its {len(children)} child span(s)")
        + (f"; injected fault {fault}" if fault else "")
    )
    if statement_of(span):
        advice = "The statement itself is slow: EXPLAIN it, check its indexes and what locks its rows."
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


def recommendations(tree: Tree) -> tuple[Recommendation, ...]:
    found = db_timeouts(tree) + failing_calls(tree) + n_plus_one(tree)
    cited = {span_id for rec in found for span_id in rec.span_ids}
    return tuple(found + slow_spans(tree, cited))


# -- the diagnosis ------------------------------------------------------------------------


def analyze(spans: Iterable[Span]) -> Diagnosis:
    """Diagnose one trace from its spans (see the module docstring for the definitions)."""
    tree = Tree(spans)
    services = service_times(tree)
    cause = root_cause(tree)
    spread = propagation(tree, cause)
    return Diagnosis(
        trace_id=tree.spans[0].trace_id if tree.spans else "",
        wall_ns=wall_ns(tree.spans),
        total_ns=sum(s.self_ns for s in services),
        services=services,
        bottleneck=bottleneck(services),
        root_cause=cause,
        propagation=spread,
        outcome=outcome(tree, cause, spread.after),
        recommendations=recommendations(tree),
    )


def ranges(values: Iterable[int]) -> str:
    """``2-4, 6`` for 2, 3, 4, 6."""
    runs: list[list[int]] = []
    for value in sorted(values):
        if runs and value == runs[-1][-1] + 1:
            runs[-1].append(value)
        else:
            runs.append([value])
    return ", ".join(f"{r[0]}-{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs)


def cause_phrase(cause: RootCause) -> str:
    error = f"{cause.exception_type}: {cause.exception_message}".strip(": ")
    text = f"{cause.service}: {cause.label} failed with {error}"
    if cause.attempt is not None:
        text += f" on attempt {cause.attempt} of {cause.task}"
    if cause.fault:
        text += f" (fault {cause.fault})"
    if cause.repeated_on:
        text += f", again {on_attempts(list(cause.repeated_on))}"
    return text


def summary_line(diagnosis: Diagnosis) -> str:
    """One line: the root cause and what became of it, or where the time went."""
    if diagnosis.root_cause is None:
        top = diagnosis.services[0] if diagnosis.services else None
        where = f"; most time in {top.service} ({top.share:.0%})" if top else ""
        return f"no error in the trace{where}"
    return "; ".join((cause_phrase(diagnosis.root_cause), *diagnosis.outcome))


# -- text ---------------------------------------------------------------------------------


def diagnosis_text(diagnosis: Diagnosis) -> str:
    """The diagnosis as the ``trace --analyze`` command prints it."""
    lines = ["", "diagnosis", f"  {summary_line(diagnosis)}", ""]
    lines += time_lines(diagnosis) + cause_lines(diagnosis.root_cause)
    lines += propagation_lines(diagnosis.propagation) + recommendation_lines(diagnosis.recommendations)
    return "\n".join(lines).rstrip()


def time_lines(diagnosis: Diagnosis) -> list[str]:
    lines = [
        f"  self time by service ({diagnosis.total_ns / 1e6:.1f} ms summed over spans; "
        f"wall {diagnosis.wall_ns / 1e6:.1f} ms):"
    ]
    for service in diagnosis.services:
        mark = "  ← bottleneck" if service.service == diagnosis.bottleneck else ""
        ms = service.self_ns / 1e6
        lines.append(f"    {service.service:<15} {ms:>10.1f} ms {service.share:>6.1%}{mark}")
    if diagnosis.bottleneck is None:
        lines.append("    no bottleneck: no service takes over half the time")
    return lines + [""]


def cause_lines(cause: RootCause | None) -> list[str]:
    if cause is None:
        return ["  root cause: no error span", ""]
    lines = [f"  root cause: [{cause.service}] {cause.label} (span {cause.span_id})"]
    lines.append(f"    {cause.exception_type}: {cause.exception_message}".rstrip(": "))
    if cause.attempt is not None:
        lines.append(f"    attempt {cause.attempt} of {cause.attempts} of {cause.task}")
    if cause.repeated_on:
        lines.append(f"    the same error again {on_attempts(list(cause.repeated_on))}")
    if cause.fault:
        lines.append(f"    injected fault: {cause.fault}")
    if cause.statement:
        lines.append(f"    statement: {' '.join(cause.statement.split())[:200]}")
    return lines + [""]


def propagation_lines(spread: Propagation) -> list[str]:
    if not spread.path:
        return []
    lines = ["  propagation (root cause → trace root):"]
    lines += [f"    [{s.service}] {s.name}  {s.what}" for s in spread.path]
    if spread.after:
        lines.append("  then:")
        lines += [f"    [{s.service}] {s.name}  {s.what}" for s in spread.after]
    return lines + [""]


def recommendation_lines(found: tuple[Recommendation, ...]) -> list[str]:
    if not found:
        return ["  recommendations: none"]
    lines = ["  recommendations:"]
    for rec in found:
        lines += [f"    - {rec.kind}: {rec.evidence}", f"      {rec.advice}"]
    return lines
