"""How the root cause reached the order: the spans from it up to the trace root, then what
followed in the trace (later attempts, reconcile, the compensation and what it undid), and
the outcome in short phrases (definitions in ``telemetry.diagnosis.analysis``)."""

from __future__ import annotations

from core.text import counted
from instrumentation import attributes, names
from telemetry.diagnosis.model import Propagation, RootCause, Step
from telemetry.diagnosis.root_cause import attempt_error, fault_of, reached, task_runs
from telemetry.diagnosis.spans import attempt_number, error_text, http_status, label, url_of
from telemetry.models import Span
from telemetry.tree import SpanTree

Tree = SpanTree[Span]
Timed = tuple[int, Step]  # a step and when it happened, to put the steps in order

# The compensation is the worker's task, or the orders API failing the order by request.
COMPENSATION_SPANS = (
    names.run_span(names.COMPENSATE_ORDER_TASK),
    names.server_span("POST", names.ORDER_FAIL_ROUTE),
)


def propagation(tree: Tree, cause: RootCause | None) -> Propagation:
    if cause is None:
        return Propagation(path=(), after=())
    span = tree.by_id[cause.span_id]
    after = later_attempts(tree, cause) + reconcile_steps(tree, span.start_time_ns)
    after += compensation_steps(tree, span.start_time_ns)
    ordered = tuple(s for _, s in sorted(after, key=lambda timed: timed[0]))
    return Propagation(path=error_path(tree, span), after=ordered)


def step(span: Span, what: str) -> Step:
    return Step(span_id=span.span_id, service=span.service, name=span.name, what=what)


def error_path(tree: Tree, cause: Span) -> tuple[Step, ...]:
    """The spans the error reached, root cause first: an ancestor that ended without error
    stopped it (a worker's failure never reaches the checkout that published its task)."""
    return tuple(step(span, describe(span)) for span in reached(tree, cause))


def describe(span: Span) -> str:
    """A span on the error's path: its attempt, the URL it called, how it ended."""
    attempt = span.attributes.get(attributes.TASK_ATTEMPT)
    url = url_of(span)
    text = (f"attempt {attempt}: " if attempt is not None else "") + (f"→ {url} " if url else "")
    return text + (failure(span) if span.status == "ERROR" else "ok")


def failure(span: Span) -> str:
    """``ERROR Type: message (fault name)``, the fault being the span's own."""
    fault = span.attributes.get(attributes.FAULT_NAME)
    return f"ERROR {error_text(span)}".rstrip() + (f" (fault {fault})" if fault else "")


# -- what followed ------------------------------------------------------------------------


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
    fault, error = fault_of(tree, origin), error_text(origin)
    text = f"retried: attempt {attempt} failed at {label(origin)}" + (f": {error}" if error else "")
    return text + (f" (fault {fault})" if fault else "")


def reconcile_steps(tree: Tree, after_ns: int) -> list[Timed]:
    return [
        (span.start_time_ns, step(span, "reconcile pushed the order on"))
        for span in tree.spans
        if span.name == names.RECONCILE_ORDER_SPAN and span.start_time_ns >= after_ns
    ]


def compensation_steps(tree: Tree, after_ns: int) -> list[Timed]:
    """The compensation, what it undid and the order failing. The checkout's own undo (the
    orders API's fail route) and compensations traced before the undo became tasks call
    payments and inventory over REST and fail the order as they end; the worker's
    compensation asks payments' and inventory's workers by task, and the order fails in
    the orders run that took the last report (``order.status`` failed on it)."""
    steps: list[Timed] = []
    for span in tree.spans:
        if span.name in COMPENSATION_SPANS and span.start_time_ns >= after_ns:
            ok = span.status != "ERROR"
            what = "compensation ran" if ok else f"compensation {describe(span)}"
            undone = undo_steps(tree, span)
            steps += [(span.start_time_ns, step(span, what)), *undone]
            reports = failing_reports(tree, span)
            if reports:  # a repeated report finds the order failed too: the first one failed it
                first = min(reports, key=lambda report: report.end_time_ns)
                steps.append((first.end_time_ns, step(first, "order failed")))
            elif ok and not undo_tasks(tree, span):  # the REST undo ends by marking the order failed
                steps.append((span.end_time_ns, step(span, "order failed")))
    return steps


# The undo steps as their owners' workers run them, and as REST routes (the checkout's own).
UNDO_TASKS = (names.run_span(names.PAYMENT_CANCEL_TASK), names.run_span(names.STOCK_RELEASE_TASK))


def undo_tasks(tree: Tree, compensation: Span) -> list[Span]:
    return [s for s in tree.descendants(compensation) if s.kind == "CONSUMER" and s.name in UNDO_TASKS]


def failing_reports(tree: Tree, compensation: Span) -> list[Span]:
    """The orders run under ``compensation`` whose report failed the order."""
    report = names.run_span(names.UNDO_REPORTED_TASK)
    return [
        s
        for s in tree.descendants(compensation)
        if s.name == report and s.attributes.get(attributes.ORDER_STATUS) == "failed"
    ]


def undo_steps(tree: Tree, compensation: Span) -> list[Timed]:
    """The payment cancelled and the stock released under a compensation span: REST calls
    answered by payments and inventory, or runs of their tasks (each attempt a step)."""
    done = {
        names.PAYMENT_CANCEL_ROUTE: payment_undone(tree),
        names.STOCK_RELEASE_ROUTE: stock_undone(tree),
        UNDO_TASKS[0]: payment_undone(tree),
        UNDO_TASKS[1]: stock_undone(tree),
    }
    steps = []
    for span in tree.descendants(compensation):
        if span.kind == "SERVER":
            key = next((r for r in done if span.name.endswith(r)), None)
        else:
            key = span.name if span.kind == "CONSUMER" and span.name in UNDO_TASKS else None
        if key:
            what = done[key] if span.status != "ERROR" else f"{done[key]}: FAILED"
            if span.kind == "CONSUMER" and span.status == "ERROR":
                what += f" ({describe(span)}, retried on its queue)"
            steps.append((span.start_time_ns, step(span, what)))
    return steps


def payment_undone(tree: Tree) -> str:
    """What cancelling the payment did: refund a capture, void an authorisation, or nothing.
    Payments' worker says so on its run (``order.undo.outcome``); a REST cancel is read from
    what the trace shows of the payment before it."""
    for span in tree.spans:
        if span.name == UNDO_TASKS[0] and span.status != "ERROR":
            outcome = span.attributes.get(attributes.UNDO_OUTCOME)
            if outcome in ("voided", "refunded"):
                return f"payment {outcome}"
            if outcome:
                return "no payment to void"
    if captured(tree):
        return "payment refunded"
    return "payment voided" if answered_ok(tree, names.PAYMENT_AUTHORIZE_ROUTE) else "no payment to void"


def stock_undone(tree: Tree) -> str:
    """What releasing the stock did: give units back, or nothing for an order that never
    reserved (its reservation refused or never answered). Inventory says so on the release's
    run or request (``order.undo.outcome``, ``none`` when there was nothing); a release traced
    without it is read from the trace: a reservation answered before it."""
    releases = (names.STOCK_RELEASE_ROUTE, UNDO_TASKS[1])
    for span in tree.spans:
        if span.status != "ERROR" and span.name.endswith(releases):
            outcome = span.attributes.get(attributes.UNDO_OUTCOME)
            if outcome:
                return "no stock to release" if outcome == "none" else "stock released"
    return "stock released" if answered_ok(tree, names.STOCK_RESERVE_ROUTE) else "no stock to release"


def captured(tree: Tree) -> bool:
    """The order's payment was captured: by payments' worker (``payments.capture_payment``
    reporting ``done``) or, in traces stored before the capture became a task, over REST."""
    return step_done(tree, names.PAYMENT_CAPTURE_TASK) or answered_ok(tree, names.PAYMENT_CAPTURE_ROUTE)


def committed(tree: Tree) -> bool:
    """The order's stock was committed (sold): by inventory's worker or, earlier, over REST."""
    return step_done(tree, names.STOCK_COMMIT_TASK) or answered_ok(tree, names.STOCK_COMMIT_ROUTE)


def step_done(tree: Tree, task: str) -> bool:
    """A run of the confirmation step ``task`` says it is done (``order.step.outcome``)."""
    run = names.run_span(task)
    return any(
        s.kind == "CONSUMER" and s.name == run and s.attributes.get(attributes.STEP_OUTCOME) == "done"
        for s in tree.spans
    )


def ran_ok(tree: Tree, task: str) -> bool:
    """A run of ``task`` in the trace ended without error."""
    run = names.run_span(task)
    return any(s.kind == "CONSUMER" and s.name == run and s.status != "ERROR" for s in tree.spans)


def answered_ok(tree: Tree, route: str) -> bool:
    """A server span of ``route`` in the trace answered without error."""
    return any(
        s.kind == "SERVER"
        and s.name.endswith(route)
        and s.status != "ERROR"
        and int(http_status(s) or 200) < 400
        for s in tree.spans
    )


# -- the outcome --------------------------------------------------------------------------


def outcome(tree: Tree, cause: RootCause | None, after: tuple[Step, ...]) -> tuple[str, ...]:
    undone = ("payment ", "no payment ", "stock ", "no stock ")
    compensated = [s.what for s in after if s.what.startswith(undone)]
    phrases = retry_outcome(tree, cause, after)
    phrases += ["compensated: " + ", ".join(compensated)] if compensated else []
    phrases += ["order failed"] if any(s.what == "order failed" for s in after) else []
    return tuple(phrases) + request_outcome(tree, cause)


def retry_outcome(tree: Tree, cause: RootCause | None, after: tuple[Step, ...]) -> list[str]:
    if cause is None or not cause.task:
        return []
    runs = task_runs(tree, cause.task)
    if not runs:
        return []
    last, number = runs[-1], attempt_number(runs[-1])
    if last.status == "ERROR" and any(s.what == "compensation ran" for s in after):
        return [f"gave up after {counted(number, 'attempt')}"]
    if last.status != "ERROR" and number > (cause.attempt or 0):
        return [f"recovered on attempt {number}"]
    return []


def request_outcome(tree: Tree, cause: RootCause | None) -> tuple[str, ...]:
    """The trace root answered an error: say so (a checkout answered 503)."""
    if cause is None:
        return ()
    root = tree.root_of(tree.by_id[cause.span_id])
    code = http_status(root)
    if root.kind == "SERVER" and code and code >= 400:
        return (f"{root.name} answered {code}",)
    return ()
