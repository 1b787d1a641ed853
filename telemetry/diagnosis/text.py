"""A diagnosis in words: ``summary_line``, the one line the order's admin page shows, and
``diagnosis_text``, what ``manage.py trace --analyze`` prints under the trace's tree."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from telemetry.diagnosis.spans import error_phrase

if TYPE_CHECKING:  # the model's to_dict() calls summary_line: no import back at run time
    from telemetry.diagnosis.model import Diagnosis, Propagation, Recommendation, RootCause


def summary_line(diagnosis: Diagnosis) -> str:
    """One line: the root cause and what became of it, or where the time went."""
    if diagnosis.root_cause is None:
        top = diagnosis.services[0] if diagnosis.services else None
        where = f"; most time in {top.service} ({top.share:.0%})" if top else ""
        # A slow trace without an error: the lock wait or the slow span is its story.
        slow = next((r for r in diagnosis.recommendations if r.kind in SLOW_KINDS), None)
        return f"no error in the trace{where}" + (f"; {slow.kind}: {slow.evidence}" if slow else "")
    return "; ".join((cause_phrase(diagnosis.root_cause), *diagnosis.outcome))


SLOW_KINDS = ("worker_lost", "lock_contention", "n_plus_one", "slow_leaf", "uninstrumented_time")


def cause_phrase(cause: RootCause) -> str:
    error = error_phrase(cause.exception_type, cause.exception_message)
    text = f"{cause.service}: {cause.label} failed with {error}"
    if cause.attempt is not None:
        text += f" on attempt {cause.attempt} of {cause.task}"
    if cause.fault:
        text += f" (fault {cause.fault})"
    if cause.repeated_on:
        text += f", again {on_attempts(list(cause.repeated_on))}"
    return text


def on_attempts(values: list[int]) -> str:
    return f"on attempt{'s' if len(values) > 1 else ''} {ranges(values)}"


def ranges(values: Iterable[int]) -> str:
    """``2-4, 6`` for 2, 3, 4, 6."""
    runs: list[list[int]] = []
    for value in sorted(values):
        if runs and value == runs[-1][-1] + 1:
            runs[-1].append(value)
        else:
            runs.append([value])
    return ", ".join(f"{r[0]}-{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs)


# -- the ``trace --analyze`` text ---------------------------------------------------------


def diagnosis_text(diagnosis: Diagnosis) -> str:
    """The diagnosis as the ``trace --analyze`` command prints it."""
    lines = ["", "diagnosis", f"  {summary_line(diagnosis)}", ""]
    if diagnosis.verdict is not None:
        v = diagnosis.verdict
        where = f"{v.service or '-'}: {v.operation or '-'}"
        lines += [f"  verdict: {v.cause}, in {where}", f"    {v.sentence}", ""]
    if diagnosis.engine:
        lines += [f"  database: {diagnosis.engine}", ""]
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
    lines.append(f"    {error_phrase(cause.exception_type, cause.exception_message)}".rstrip())
    if cause.attempt is not None:
        lines.append(f"    attempt {cause.attempt} of {cause.attempts} of {cause.task}")
    if cause.repeated_on:
        lines.append(f"    the same error again {on_attempts(list(cause.repeated_on))}")
    if cause.fault:
        lines.append(f"    injected fault: {cause.fault}")
    if cause.statement:
        lines.append(f"    statement: {' '.join(cause.statement.split())[:200]}")
    if cause.stack:
        lines.append("    stack (application frames, library frames folded):")
        lines += [f"      {line}" for line in cause.stack]
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
