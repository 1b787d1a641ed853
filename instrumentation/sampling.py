"""Head sampling: which traces a process keeps, decided where a trace starts and followed
by every span after it, in every process.

A root span (a request that arrives without a ``traceparent``, a task published outside
any trace, a script's HTTP call) is kept at the rate of the first rule whose pattern
matches it, else at the default rate (``TELEMETRY_SAMPLING_RULES``,
``TELEMETRY_SAMPLE_RATE``). The decision is a function of the trace id alone, as in the
SDK's ``TraceIdRatioBased``: the id's lower 64 bits against the rate's bound, so every
process that sees a trace decides alike. Every other span follows its parent
(``ParentBased``) across REST hops, Celery tasks, retries and the outbox, so a trace is
kept or dropped whole.

The shared decision for a trace that is not kept: its server and consumer spans, and the
HTTP calls and task publishes that lead to them, are still recorded (``RECORD_ONLY``:
recording, sampled flag off), so span processors see every request and task and who called
it (the metrics and the services graph stay exact), while exporters see none (they skip
unsampled spans) and the ``traceparent`` passed on says "not sampled". Its other spans
(database statements, inner steps) are dropped.

When no Threadline rule is set (no rules and the default rate at 1.0) and
``OTEL_TRACES_SAMPLER`` names one of the SDK's samplers, that sampler decides instead,
with the same shared decision around it (``build_sampler``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured
from opentelemetry import trace
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    DEFAULT_OFF,
    DEFAULT_ON,
    Decision,
    ParentBased,
    ParentBasedTraceIdRatio,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import SpanKind
from opentelemetry.util.types import Attributes

from instrumentation.attributes import SAMPLING_PROBABILITY, SAMPLING_RULE

# Task runs that watch the store (alert evaluation, pruning, tail decisions): tracing them
# would feed the store the very spans it is watching, every minute. Dropped outright, not
# even recorded.
UNTRACED_ROOTS = frozenset(
    {"run/telemetry.evaluate_alerts", "run/telemetry.prune_traces", "run/telemetry.decide_traces"}
)
# The rule a root span names when no pattern matched it.
DEFAULT_RULE = "default"
# Spans that a trace not kept still records (RECORD_ONLY): one per request, one per task run,
# and one per task publish (what leads to a run); HTTP client calls are recorded too.
_RECORDED_KINDS = frozenset({SpanKind.SERVER, SpanKind.CONSUMER, SpanKind.PRODUCER})
# Where an HTTP span's start attributes hold the request path, in order of preference.
_PATH_KEYS = ("url.path", "http.target", "http.url")
# OTEL_TRACES_SAMPLER's values, as the SDK maps them (sampling._get_from_env_or_default,
# which reads os.environ itself; here the values come from the settings).
_STANDARD_SAMPLERS: dict[str, Sampler] = {
    "always_on": ALWAYS_ON,
    "always_off": ALWAYS_OFF,
    "parentbased_always_on": DEFAULT_ON,
    "parentbased_always_off": DEFAULT_OFF,
}
_STANDARD_RATIO_SAMPLERS: dict[str, Callable[[float], Sampler]] = {
    "traceidratio": TraceIdRatioBased,
    "parentbased_traceidratio": ParentBasedTraceIdRatio,
}


@dataclass(frozen=True)
class Rule:
    """Keep the traces whose root matches ``pattern`` (an fnmatch glob) at ``rate``."""

    pattern: str
    rate: float

    def matches(self, candidates: Sequence[str]) -> bool:
        return any(fnmatchcase(candidate, self.pattern) for candidate in candidates)


def parse_rate(value: object, where: str) -> float:
    """A probability from 0 to 1, or ImproperlyConfigured naming ``where`` it came from."""
    try:
        rate = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        rate = math.nan
    if not 0.0 <= rate <= 1.0:  # NaN fails this too
        raise ImproperlyConfigured(f"{where}: the rate must be a number from 0 to 1, not {value!r}")
    return rate


def parse_rules(text: str) -> tuple[Rule, ...]:
    """``pattern=rate`` pairs, comma-separated, in order (the first match wins). Blank
    entries are skipped; a malformed pair or a rate outside 0..1 is refused by name."""
    rules = []
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        pattern, equals, rate = entry.rpartition("=")
        where = f"TELEMETRY_SAMPLING_RULES: {entry!r}"
        if not equals or not pattern.strip():
            raise ImproperlyConfigured(f"{where} is not a pattern=rate pair")
        rules.append(Rule(pattern.strip(), parse_rate(rate.strip(), where)))
    return tuple(rules)


def keeps(trace_id: int, rate: float) -> bool:
    """Whether a trace is kept at ``rate``: the SDK's ``TraceIdRatioBased`` test (the lower
    64 bits of the id below the rate's bound), so every process decides alike."""
    return trace_id & TraceIdRatioBased.TRACE_ID_LIMIT < TraceIdRatioBased.get_bound_for_rate(rate)


def match_candidates(name: str, span_attributes: Mapping) -> list[str]:
    """What a rule's pattern is matched against: the span name (``run/orders.reconcile``,
    ``GET api/shop/orders/<uuid:order_id>/``) and, for an HTTP span, the request path
    without its leading slash (``api/shop/checkout/``) and the method with that path
    (``GET api/shop/orders/5f0c…/``).

    At span start the Django instrumentor (0.66b1) passes no ``http.route`` yet, but the
    request: ``url.path`` (new conventions), ``http.target`` (old conventions, with the
    query, when the server sets ``RAW_URI``/``REQUEST_URI``: gunicorn), else ``http.url``
    (runserver, the test client). The requests instrumentor's client spans carry
    ``http.url`` too, so a script's call matches the same rule as the server span would.
    """
    candidates = [name]
    raw = next((span_attributes[key] for key in _PATH_KEYS if span_attributes.get(key)), None)
    if raw:
        path = urlsplit(str(raw)).path.lstrip("/")
        candidates.append(path)
        method = span_attributes.get("http.request.method") or span_attributes.get("http.method")
        if method:
            candidates.append(f"{method} {path}")
    return candidates


def is_background_root(name: str, kind: SpanKind | None, span_attributes: Mapping) -> bool:
    """A root span that starts no trace in any mode: database and Redis client spans without
    a parent (a process's broker polling and housekeeping queries, part of no request or
    task) and telemetry's own task runs (``UNTRACED_ROOTS``). An HTTP client call without
    a parent (a script driving the shop) is no background: it starts a trace."""
    if name in UNTRACED_ROOTS:
        return True
    return kind == SpanKind.CLIENT and not _is_http(span_attributes)


def _is_http(span_attributes: Mapping) -> bool:
    return "http.method" in span_attributes or "http.request.method" in span_attributes


def not_kept(kind: SpanKind | None, span_attributes: Attributes, trace_state=None) -> SamplingResult:
    """The shared decision for a span of a trace not kept: a request, a task run, a task
    publish or an HTTP call is recorded with its attributes but not sampled (``RECORD_ONLY``:
    the metrics count it and draw the edge from its caller); anything else is dropped."""
    if kind in _RECORDED_KINDS or (kind == SpanKind.CLIENT and _is_http(span_attributes or {})):
        return SamplingResult(Decision.RECORD_ONLY, span_attributes, trace_state)
    return SamplingResult(Decision.DROP, None, trace_state)


def _root_attributes(span_attributes: Attributes, rule: str, probability: float) -> dict:
    return {**(span_attributes or {}), SAMPLING_RULE: rule, SAMPLING_PROBABILITY: probability}


class NotKept(Sampler):
    """For a span whose parent is not sampled (local or remote): ``not_kept``."""

    def should_sample(
        self, parent_context, trace_id, name, kind=None, attributes=None, links=None, trace_state=None
    ) -> SamplingResult:
        parent_state = trace.get_current_span(parent_context).get_span_context().trace_state
        return not_kept(kind, attributes, parent_state)

    def get_description(self) -> str:
        return "NotKept"


class HeadRules(Sampler):
    """The root sampler: background roots dropped; any other root kept at the rate of the
    first rule matching it, else at ``default_rate``. A root span records the rule (its
    pattern, or ``default``) and that rate, kept or not."""

    def __init__(self, rules: Sequence[Rule], default_rate: float) -> None:
        self.rules = tuple(rules)
        self.default_rate = default_rate

    def rule_for(self, name: str, span_attributes: Mapping) -> tuple[str, float]:
        candidates = match_candidates(name, span_attributes)
        for rule in self.rules:
            if rule.matches(candidates):
                return rule.pattern, rule.rate
        return DEFAULT_RULE, self.default_rate

    def should_sample(
        self, parent_context, trace_id, name, kind=None, attributes=None, links=None, trace_state=None
    ) -> SamplingResult:
        span_attributes = attributes or {}
        if is_background_root(name, kind, span_attributes):
            return SamplingResult(Decision.DROP)
        rule, rate = self.rule_for(name, span_attributes)
        root_attributes = _root_attributes(span_attributes, rule, rate)
        if keeps(trace_id, rate):
            return SamplingResult(Decision.RECORD_AND_SAMPLE, root_attributes)
        return not_kept(kind, root_attributes)

    def get_description(self) -> str:
        rules = ",".join(f"{rule.pattern}={rule.rate}" for rule in self.rules)
        return f"HeadRules{{{rules};default={self.default_rate}}}"


class StandardSampler(Sampler):
    """The SDK's own sampler named by ``OTEL_TRACES_SAMPLER`` (``always_on``,
    ``parentbased_traceidratio``, …; ``OTEL_TRACES_SAMPLER_ARG`` the ratio, default 1.0),
    which decides alone, parents included as that sampler does. Around it, what holds in
    every mode: background roots are dropped, a span it drops gets the shared decision
    (``not_kept``), and a root span records the rule (``OTEL_TRACES_SAMPLER=<name>``) and
    the sampler's probability."""

    def __init__(self, name: str, arg: str = "") -> None:
        self.name = name.strip().lower()
        self.rule = f"OTEL_TRACES_SAMPLER={self.name}"
        if self.name in _STANDARD_RATIO_SAMPLERS:
            self.probability = parse_rate(arg.strip() or "1.0", "OTEL_TRACES_SAMPLER_ARG")
            self.delegate: Sampler = _STANDARD_RATIO_SAMPLERS[self.name](self.probability)
        elif self.name in _STANDARD_SAMPLERS:
            self.probability = 0.0 if self.name.endswith("always_off") else 1.0
            self.delegate = _STANDARD_SAMPLERS[self.name]
        else:
            known = ", ".join(sorted({*_STANDARD_SAMPLERS, *_STANDARD_RATIO_SAMPLERS}))
            raise ImproperlyConfigured(f"OTEL_TRACES_SAMPLER: {name!r} is none of {known}")

    def should_sample(
        self, parent_context, trace_id, name, kind=None, attributes=None, links=None, trace_state=None
    ) -> SamplingResult:
        span_attributes = attributes or {}
        is_root = not trace.get_current_span(parent_context).get_span_context().is_valid
        if is_root and is_background_root(name, kind, span_attributes):
            return SamplingResult(Decision.DROP)
        result = self.delegate.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )
        if is_root:
            span_attributes = _root_attributes(span_attributes, self.rule, self.probability)
        if result.decision is Decision.DROP:
            return not_kept(kind, span_attributes, result.trace_state)
        return SamplingResult(result.decision, span_attributes, result.trace_state)

    def get_description(self) -> str:
        return f"StandardSampler{{{self.delegate.get_description()}}}"


def build_sampler(*, rules: str, rate: float, standard: str = "", standard_arg: str = "") -> Sampler:
    """The sampler of a process, from its settings (``TELEMETRY_SAMPLING_RULES``,
    ``TELEMETRY_SAMPLE_RATE``, ``OTEL_TRACES_SAMPLER``, ``OTEL_TRACES_SAMPLER_ARG``); a bad
    value raises ImproperlyConfigured here, once, when the process sets up tracing.

    Precedence: Threadline's rules and rate decide when either is set (a rule, or a rate
    other than 1.0); otherwise ``OTEL_TRACES_SAMPLER``, when set, decides (``StandardSampler``);
    otherwise every trace is kept (the default rate, 1.0).
    """
    parsed = parse_rules(rules)
    default_rate = parse_rate(rate, "TELEMETRY_SAMPLE_RATE")
    if not parsed and default_rate == 1.0 and standard.strip():
        return StandardSampler(standard, standard_arg)
    return ParentBased(
        root=HeadRules(parsed, default_rate),
        remote_parent_not_sampled=NotKept(),
        local_parent_not_sampled=NotKept(),
    )
