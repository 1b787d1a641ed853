"""The report of a simulated run: outcomes, latency percentiles, throughput, the slowest,
failed, stuck and errored orders with their trace ids, and the invariant checks; as a
dataclass (``as_dict`` is the JSON report) and as text for a terminal (``render``)."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime

from core.stats import percentile
from simulator.driver import TERMINAL, Attempt, RunConfig, RunResult
from simulator.invariants import LISTED, Check, check_all

SLOWEST = 5  # checkouts listed as the slowest


@dataclass(frozen=True)
class OrderRow:
    order_id: str
    http_status: int | None
    status: str
    reason: str
    trace_id: str
    checkout_ms: float | None
    confirmation_ms: float | None
    error: str


@dataclass(frozen=True)
class Report:
    url: str
    orders: int
    concurrency: int
    seed: int
    scenario: str | None
    timeout_s: float
    answers: dict[str, int]  # checkouts by HTTP status; "no answer" for connection errors
    confirmed: int
    failed_by_reason: dict[str, int]
    checkout_ms: dict[str, float | None]  # p50, p95, p99 over answered checkouts
    confirmation_ms: dict[str, float | None]  # p50, p95: order created → confirmed (server clock)
    checkout_seconds: float
    wait_seconds: float
    confirmed_per_second: float | None  # confirmed / (first created → last confirmed)
    slowest: list[OrderRow]
    failed: list[OrderRow]
    stuck: list[OrderRow]
    errors: list[OrderRow]
    checks: list[Check] = field(default_factory=list)
    # Checkouts sent again with their Idempotency-Key (--retry-for): after no answer, or
    # while a dead request still held the key.
    retried: int = 0

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    def as_dict(self) -> dict:
        return {**asdict(self), "passed": self.passed}


# --- building it ---------------------------------------------------------------------------


def build_report(config: RunConfig, result: RunResult) -> Report:
    """Everything the run measured, with the invariant checks."""
    attempts = result.attempts
    return Report(
        url=config.url,
        orders=config.orders,
        concurrency=config.concurrency,
        seed=config.seed,
        scenario=config.scenario,
        timeout_s=config.timeout,
        answers=answers(attempts),
        confirmed=len(_with_status(attempts, "confirmed")),
        failed_by_reason=failed_by_reason(attempts),
        checkout_ms=checkout_percentiles(attempts),
        confirmation_ms=confirmation_percentiles(attempts),
        checkout_seconds=result.checkout_seconds,
        wait_seconds=result.wait_seconds,
        confirmed_per_second=confirmed_per_second(attempts),
        slowest=[_row(a) for a in sorted(attempts, key=lambda a: -(a.checkout_ms or 0))[:SLOWEST]],
        failed=[_row(a) for a in _with_status(attempts, "failed")],
        stuck=[_row(a) for a in stuck(attempts)],
        errors=[_row(a) for a in attempts if a.error],
        checks=check_all(result, config.timeout),
        retried=sum(a.retries > 0 for a in attempts),
    )


def _with_status(attempts: list[Attempt], status: str) -> list[Attempt]:
    return [a for a in attempts if a.status == status]


def answers(attempts: list[Attempt]) -> dict[str, int]:
    """Checkouts by HTTP status, in the order of the status."""
    counted = Counter(str(a.http_status) if a.http_status else "no answer" for a in attempts)
    return dict(sorted(counted.items()))


def failed_by_reason(attempts: list[Attempt]) -> dict[str, int]:
    """Failed orders by the kind of their reason, most frequent first."""
    return dict(Counter(_reason_label(a.reason) for a in _with_status(attempts, "failed")).most_common())


def _reason_label(reason: str) -> str:
    """What a failure reason is, without its particulars: the text before the first colon
    ("insufficient_stock", "finalize gave up after 4 attempts")."""
    return reason.split(":", 1)[0].strip() or "(no reason given)"


def checkout_percentiles(attempts: list[Attempt]) -> dict[str, float | None]:
    latencies = [a.checkout_ms for a in attempts if a.checkout_ms is not None]
    return {f"p{p}": percentile(latencies, p) for p in (50, 95, 99)}


def confirmation_percentiles(attempts: list[Attempt]) -> dict[str, float | None]:
    """Order created → confirmed, on the shop's clock."""
    stamped = [_confirmation_ms(stamps) for stamps in _stamped(attempts)]
    return {f"p{p}": percentile(stamped, p) for p in (50, 95)}


Stamps = tuple[datetime, datetime]  # an order's created_at, confirmed_at: both were read


def _stamps(attempt: Attempt) -> Stamps | None:
    """The order's creation and confirmation times, if both were read."""
    if attempt.created_at and attempt.confirmed_at:
        return attempt.created_at, attempt.confirmed_at
    return None


def _stamped(attempts: list[Attempt]) -> list[Stamps]:
    """The stamps of the confirmed orders whose creation and confirmation times were read."""
    return [stamps for a in _with_status(attempts, "confirmed") if (stamps := _stamps(a))]


def _confirmation_ms(stamps: Stamps) -> float:
    created_at, confirmed_at = stamps
    return (confirmed_at - created_at).total_seconds() * 1000


def confirmed_per_second(attempts: list[Attempt]) -> float | None:
    """Confirmed orders over the span from the first order's creation to the last
    confirmation, both on the shop's clock, so polling does not blur it."""
    stamped = _stamped(attempts)
    if not stamped:
        return None
    first_created = min(created_at for created_at, _ in stamped)
    last_confirmed = max(confirmed_at for _, confirmed_at in stamped)
    seconds = (last_confirmed - first_created).total_seconds()
    return len(stamped) / seconds if seconds > 0 else None


def stuck(attempts: list[Attempt]) -> list[Attempt]:
    """Orders that could be read but were not terminal when the run stopped waiting."""
    return [a for a in attempts if a.order_id and a.readable is not False and a.status not in TERMINAL]


def _row(attempt: Attempt) -> OrderRow:
    stamps = _stamps(attempt)
    confirmation = _confirmation_ms(stamps) if stamps else None
    return OrderRow(
        order_id=attempt.order_id,
        http_status=attempt.http_status,
        status=attempt.status,
        reason=attempt.reason,
        trace_id=attempt.trace_id,
        checkout_ms=attempt.checkout_ms,
        confirmation_ms=confirmation,
        error=attempt.error,
    )


# --- text ----------------------------------------------------------------------------------


def render(report: Report) -> str:
    """The report as text for a terminal."""
    lines = [
        f"Simulated {report.orders} checkouts against {report.url} "
        f"(concurrency {report.concurrency}, seed {report.seed}, faults: {report.scenario or 'as set'})",
        "checkouts answered: "
        + ", ".join(f"{code} × {n}" for code, n in report.answers.items())
        + (f" ({report.retried} after retries with the same Idempotency-Key)" if report.retried else ""),
        f"orders: {report.confirmed} confirmed, {sum(report.failed_by_reason.values())} failed",
        *[f"  failed: {n} × {reason}" for reason, n in report.failed_by_reason.items()],
        f"checkout latency:     {_percentiles(report.checkout_ms)}",
        f"time to confirmation: {_percentiles(report.confirmation_ms)}  (created → confirmed, shop clock)",
        f"throughput: {_rate(report.confirmed_per_second)} confirmed orders/s (first order created → last "
        f"confirmed); checkouts took {report.checkout_seconds:.1f} s, waiting {report.wait_seconds:.1f} s",
        "slowest checkouts:",
        *[_row_text(row) for row in report.slowest],
        *_listing("failed orders", report.failed),
        *_listing("stuck orders (not terminal before the timeout)", report.stuck),
        *_listing("errors (5xx, other 4xx, no answer)", report.errors),
        "invariants:",
        *[f"  {'PASS' if c.passed else 'FAIL'} {c.name}: {c.detail}" for c in report.checks],
        "result: " + ("PASS" if report.passed else "FAIL (an invariant broke)"),
    ]
    return "\n".join(lines) + "\n"


def _percentiles(values: dict[str, float | None]) -> str:
    return "  ".join(f"{name} {'-' if ms is None else f'{ms:.0f} ms'}" for name, ms in values.items())


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _listing(title: str, rows: list[OrderRow]) -> list[str]:
    if not rows:
        return []
    more = [f"  … and {len(rows) - LISTED} more (all in --json)"] if len(rows) > LISTED else []
    return [f"{title} ({len(rows)}):", *[_row_text(row) for row in rows[:LISTED]], *more]


def _row_text(row: OrderRow) -> str:
    took = "-" if row.checkout_ms is None else f"{row.checkout_ms:.0f} ms"
    what = row.error or row.reason or row.status
    status = row.http_status or "---"
    return f"  {took:>8}  {status}  {row.order_id or '-':36}  trace {row.trace_id or '-':32}  {what}"
