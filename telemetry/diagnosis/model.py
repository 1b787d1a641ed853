"""The diagnosis of a trace as values: what ``analyze()`` returns, the admin page and the
``trace`` command print, and the trace page hands to its template as JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from telemetry.diagnosis.text import summary_line

if TYPE_CHECKING:  # verdict imports this module's values: no import back at run time
    from telemetry.diagnosis.verdict import Verdict


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
    # The application frames that led to it, library frames folded (``stack.folded_lines``),
    # from the first stack trace on the error's path that reaches the shop's code.
    stack: tuple[str, ...] = ()


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
    engine: str = ""  # the database the trace's statements ran on: sqlite, postgresql or ""
    verdict: Verdict | None = None  # service at fault, operation, cause (``verdict``)

    def to_dict(self) -> dict:
        return {**asdict(self), "summary": summary_line(self)}
