"""Head sampling (instrumentation/sampling.py): rules by route or span name, decided by the
trace id so every process agrees, followed by every span after the root; a trace not kept
still records its server and consumer spans, unsampled, for the span processors.

The suite's own provider keeps every trace (tests/conftest.py); these tests build
samplers and providers of their own."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from opentelemetry import propagate
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import Decision, TraceIdRatioBased
from opentelemetry.trace import SpanKind

from config.settings import _DEFAULT_SAMPLING_RULES
from instrumentation.attributes import SAMPLING_PROBABILITY, SAMPLING_RULE
from instrumentation.sampling import (
    DEFAULT_RULE,
    HeadRules,
    StandardSampler,
    build_sampler,
    match_candidates,
    parse_rules,
)

ROOT = Path(__file__).resolve().parents[2]
IDS = 20_000

# Fixed, not uuid4(): every xdist worker must collect the same test ids.
SOME_ORDER = uuid.UUID("00000000-0000-4000-8000-000000000002")


def trace_ids(count: int = IDS, seed: int = 9) -> list[int]:
    rng = random.Random(seed)
    return [rng.getrandbits(128) or 1 for _ in range(count)]


def server(path: str, method: str = "GET") -> dict[str, str]:
    """The attributes the Django instrumentor passes at the start of a server span."""
    return {"http.method": method, "http.url": f"http://testserver/{path}"}


def decide(sampler, name: str, attributes=None, kind=SpanKind.SERVER, trace_id: int = 1, parent=None):
    return sampler.should_sample(parent, trace_id, name, kind, attributes)


def kept_share(sampler, name: str, attributes=None, kind=SpanKind.SERVER) -> float:
    ids = trace_ids()
    kept = sum(decide(sampler, name, attributes, kind, trace_id).decision.is_sampled() for trace_id in ids)
    return kept / len(ids)


def within_4_sd(share: float, rate: float, count: int = IDS) -> bool:
    return abs(share - rate) <= 4 * (rate * (1 - rate) / count) ** 0.5


def remote_parent(sampled: bool, trace_id: int = 0x4BF92F3577B34DA6A3CE929D0E0E4736):
    flags = "01" if sampled else "00"
    return propagate.extract({"traceparent": f"00-{trace_id:032x}-00f067aa0ba902b7-{flags}"})


class Recorded(SpanProcessor):
    """What a metrics processor sees: every span that ends, sampled or not."""

    def __init__(self) -> None:
        self.ended: list = []

    def on_end(self, span) -> None:
        self.ended.append(span)


def provider(sampler, *processors: SpanProcessor) -> TracerProvider:
    """A provider of the test's own (the global one is the suite's)."""
    made = TracerProvider(sampler=sampler)
    for processor in processors:
        made.add_span_processor(processor)
    return made


# --- rules, rates and parsing ----------------------------------------------------------------


@pytest.mark.parametrize("rate", [0.01, 0.1, 0.5, 0.9])
def test_a_rules_rate_holds_over_many_trace_ids(rate):
    """20,000 random trace ids (fixed seed): the share kept is the rule's rate within ±4 sd."""
    sampler = build_sampler(rules=f"api/payments/*={rate}", rate=1.0)
    share = kept_share(sampler, "POST api/payments/authorizations/", server("api/payments/authorizations/"))
    assert within_4_sd(share, rate), share


def test_the_default_rate_applies_where_no_rule_matches():
    sampler = build_sampler(rules="api/payments/*=1.0", rate=0.2)
    share = kept_share(sampler, "GET api/inventory/stock/", server("api/inventory/stock/"))
    assert within_4_sd(share, 0.2), share
    everything = build_sampler(rules="", rate=1.0)
    assert kept_share(everything, "GET api/inventory/stock/", server("api/inventory/stock/")) == 1.0


def test_rates_0_and_1_drop_and_keep_every_trace():
    sampler = build_sampler(rules="api/payments/*=0,api/orders/*=1", rate=0.5)
    assert kept_share(sampler, "x", server("api/payments/summary/")) == 0.0
    assert kept_share(sampler, "x", server("api/orders/")) == 1.0


def test_the_first_matching_rule_wins():
    sampler = HeadRules(parse_rules("api/payments/*=0.0, api/*=1.0"), 0.5)
    assert sampler.rule_for("POST api/payments/authorizations/", server("api/payments/authorizations/")) == (
        "api/payments/*",
        0.0,
    )
    assert sampler.rule_for("GET api/orders/", server("api/orders/")) == ("api/*", 1.0)
    assert sampler.rule_for("GET cart/", server("cart/")) == (DEFAULT_RULE, 0.5)


@pytest.mark.parametrize(
    ("name", "attributes", "expected"),
    [
        ("run/orders.reconcile", {}, "run/orders.reconcile"),  # a span name
        ("run/shop.purge_idempotency_keys", {}, "run/*.purge_*"),
        ("GET api/shop/orders/<uuid:order_id>/", server("api/shop/orders/1/"), "GET api/shop/orders/*"),
        ("x", server("api/payments/summary/?order_id=1"), "api/payments/*"),  # the query is no path
        ("x", {"http.method": "GET", "http.target": "/api/payments/summary/?a=1"}, "api/payments/*"),
        ("x", {"http.request.method": "GET", "url.path": "/api/payments/summary/"}, "api/payments/*"),
        # the requests instrumentor's client span (a script's call) names only the method
        (
            "GET",
            {"http.method": "GET", "http.url": "http://127.0.0.1:8000/api/shop/orders/1/"},
            "GET api/shop/orders/*",
        ),
        ("POST", server("api/shop/orders/1/", "POST"), DEFAULT_RULE),  # GET only
    ],
)
def test_patterns_match_the_span_name_the_path_or_the_method_and_path(name, attributes, expected):
    rules = parse_rules(
        "run/orders.reconcile=0.5,run/*.purge_*=0.5,GET api/shop/orders/*=0.5,api/payments/*=0.5"
    )
    assert HeadRules(rules, 1.0).rule_for(name, attributes)[0] == expected


def test_candidates_strip_the_leading_slash_and_the_query():
    assert match_candidates("GET cart/", {"http.method": "GET", "http.target": "/cart/?x=1"}) == [
        "GET cart/",
        "cart/",
        "GET cart/",
    ]
    assert match_candidates("run/orders.reconcile", {}) == ["run/orders.reconcile"]


def test_rules_parse_once_in_order_skipping_blanks():
    rules = parse_rules(" api/*=0.5 , ,run/orders.reconcile=0,")
    assert [(rule.pattern, rule.rate) for rule in rules] == [("api/*", 0.5), ("run/orders.reconcile", 0.0)]
    assert parse_rules("") == ()


@pytest.mark.parametrize(
    "bad", ["api/*", "=0.5", "api/*=1.5", "api/*=-0.1", "api/*=often", "api/*=nan", "api/*="]
)
def test_a_malformed_rule_is_refused_by_name(bad):
    with pytest.raises(ImproperlyConfigured) as refused:
        build_sampler(rules=f"admin/*=0.1,{bad}", rate=1.0)
    assert repr(bad) in str(refused.value) and "TELEMETRY_SAMPLING_RULES" in str(refused.value)


@pytest.mark.parametrize("bad", [1.01, -0.5, float("nan")])
def test_a_default_rate_outside_0_to_1_is_refused(bad):
    with pytest.raises(ImproperlyConfigured, match="TELEMETRY_SAMPLE_RATE"):
        build_sampler(rules="", rate=bad)


# --- the default rules ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "attributes", "rule"),
    [
        ("GET admin/", server("admin/"), "admin/*"),
        ("GET admin/orders/order/", server("admin/orders/order/"), "admin/*"),
        ("GET static/admin/css/base.css", server("static/admin/css/base.css"), "static/*"),
        (
            "GET api/shop/orders/<uuid:order_id>/",
            server(f"api/shop/orders/{SOME_ORDER}/"),
            "GET api/shop/orders/*",
        ),
        ("GET orders/<uuid:order_id>/", server(f"orders/{SOME_ORDER}/"), "GET orders/*"),
        ("run/orders.reconcile", {}, "run/orders.reconcile"),
        ("run/shop.purge_idempotency_keys", {}, "run/*.purge_idempotency_keys"),
        ("run/payments.purge_idempotency_keys", {}, "run/*.purge_idempotency_keys"),
    ],
)
def test_by_default_the_noise_gets_a_low_rate(name, attributes, rule):
    matched, rate = HeadRules(parse_rules(_DEFAULT_SAMPLING_RULES), 1.0).rule_for(name, attributes)
    assert matched == rule and rate <= 0.05


@pytest.mark.parametrize(
    ("name", "attributes"),
    [
        ("POST api/shop/checkout/", server("api/shop/checkout/", "POST")),
        ("POST", {"http.method": "POST", "http.url": "http://127.0.0.1:8000/api/shop/checkout/"}),  # a script
    ],
)
def test_by_default_the_checkout_is_kept_whole_even_at_a_lower_default_rate(name, attributes):
    sampler = build_sampler(rules=_DEFAULT_SAMPLING_RULES, rate=0.1)
    assert kept_share(sampler, name, attributes) == 1.0
    result = decide(sampler, name, attributes)
    assert result.attributes[SAMPLING_RULE] == "api/shop/checkout/*"


def test_by_default_the_rest_of_the_shop_is_kept():
    """The API, the cart, the order placed from a form: no rule, the default rate (1.0)."""
    rules = HeadRules(parse_rules(_DEFAULT_SAMPLING_RULES), 1.0)
    for path, method in [("api/orders/", "POST"), ("cart/", "GET"), ("cart/", "POST"), ("", "GET")]:
        assert rules.rule_for(f"{method} {path}", server(path, method)) == (DEFAULT_RULE, 1.0)


@pytest.mark.django_db(databases="__all__")
@pytest.mark.parametrize(
    ("method", "path", "rule"),
    [
        ("get", f"/api/shop/orders/{SOME_ORDER}/", "GET api/shop/orders/*"),
        ("get", f"/orders/{SOME_ORDER}/", "GET orders/*"),
        ("get", "/admin/", "admin/*"),
        ("post", "/api/shop/checkout/", "api/shop/checkout/*"),
    ],
)
def test_the_django_server_spans_attributes_carry_the_path_the_rules_match(spans, method, path, rule):
    """What the real Django instrumentor passes (here through the test client) is enough
    for the default rules; the suite's provider keeps everything and says so."""
    getattr(Client(raise_request_exception=False), method)(path)
    [root] = [span for span in spans.get_finished_spans() if span.kind == SpanKind.SERVER]
    assert (root.attributes[SAMPLING_RULE], root.attributes[SAMPLING_PROBABILITY]) == (DEFAULT_RULE, 1.0)
    assert (
        HeadRules(parse_rules(_DEFAULT_SAMPLING_RULES), 1.0).rule_for(root.name, root.attributes)[0] == rule
    )


# --- the decision: kept, recorded only, dropped -------------------------------------------------


def test_a_kept_root_says_which_rule_kept_it_and_at_what_probability():
    sampler = build_sampler(rules="api/payments/*=1.0", rate=1.0)
    result = decide(
        sampler, "POST api/payments/authorizations/", server("api/payments/authorizations/", "POST")
    )
    assert result.decision is Decision.RECORD_AND_SAMPLE
    assert result.attributes[SAMPLING_RULE] == "api/payments/*"
    assert result.attributes[SAMPLING_PROBABILITY] == 1.0
    assert result.attributes["http.method"] == "POST"  # the span's own attributes stay
    by_default = decide(sampler, "GET cart/", server("cart/"))
    assert (by_default.attributes[SAMPLING_RULE], by_default.attributes[SAMPLING_PROBABILITY]) == (
        "default",
        1.0,
    )


@pytest.mark.parametrize("kind", [SpanKind.SERVER, SpanKind.CONSUMER, SpanKind.PRODUCER, SpanKind.CLIENT])
def test_a_request_or_task_not_kept_is_recorded_unsampled_with_its_attributes(kind):
    """Requests, task runs and what leads to them (task publishes, HTTP calls) are recorded
    unsampled, so the metrics count them and draw the caller's edge."""
    sampler = build_sampler(rules="", rate=0.0)
    result = decide(sampler, "GET cart/", server("cart/"), kind)
    assert result.decision is Decision.RECORD_ONLY
    assert result.attributes["http.method"] == "GET"
    assert (result.attributes[SAMPLING_RULE], result.attributes[SAMPLING_PROBABILITY]) == ("default", 0.0)


@pytest.mark.parametrize(
    ("kind", "span_attributes"),
    [(SpanKind.INTERNAL, {}), (SpanKind.CLIENT, {"db.system": "sqlite", "db.statement": "SELECT 1"})],
)
def test_any_other_span_of_a_trace_not_kept_is_dropped(kind, span_attributes):
    """Inner steps and database statements of a trace not kept are not even recorded."""
    sampler = build_sampler(rules="", rate=0.0)
    assert decide(sampler, "step", span_attributes, kind).decision is Decision.DROP
    below = decide(sampler, "step", span_attributes, kind, parent=remote_parent(sampled=False))
    assert below.decision is Decision.DROP


def test_background_roots_are_dropped_whatever_the_rate():
    """Database and Redis client spans without a parent, and telemetry's own task runs:
    dropped outright (not recorded), as before the rules."""
    sampler = build_sampler(rules="", rate=1.0)
    assert decide(sampler, "SELECT", {"db.system": "sqlite"}, SpanKind.CLIENT).decision is Decision.DROP
    assert decide(sampler, "BRPOP", {"db.system": "redis"}, SpanKind.CLIENT).decision is Decision.DROP
    evaluate = decide(sampler, "run/telemetry.evaluate_alerts", {}, SpanKind.CONSUMER)
    assert evaluate.decision is Decision.DROP
    assert (
        decide(sampler, "GET", server("api/orders/"), SpanKind.CLIENT).decision is Decision.RECORD_AND_SAMPLE
    )


def test_two_processes_decide_alike_for_the_same_trace_id():
    """The decision is the trace id's: two samplers built apart agree on every id, and with
    the SDK's TraceIdRatioBased at the same rate."""
    web = build_sampler(rules="api/*=0.3", rate=1.0)
    worker = build_sampler(rules="run/*=0.3", rate=1.0)
    reference = TraceIdRatioBased(0.3)
    for trace_id in trace_ids(2_000, seed=2):
        in_web = decide(web, "POST api/orders/", server("api/orders/", "POST"), trace_id=trace_id)
        in_worker = decide(worker, "run/orders.finalize_order", {}, SpanKind.CONSUMER, trace_id=trace_id)
        expected = decide(reference, "x", trace_id=trace_id).decision.is_sampled()
        assert in_web.decision.is_sampled() == in_worker.decision.is_sampled() == expected


# --- parent-based: children follow, locally and across processes --------------------------------


def test_children_follow_a_kept_local_root_whatever_their_own_rule():
    exported = InMemorySpanExporter()
    tracer = provider(
        build_sampler(rules="api/shop/checkout/*=1.0", rate=0.0), SimpleSpanProcessor(exported)
    ).get_tracer(__name__)
    with tracer.start_as_current_span(
        "POST api/shop/checkout/", kind=SpanKind.SERVER, attributes=server("api/shop/checkout/", "POST")
    ):
        with tracer.start_as_current_span(
            "POST", kind=SpanKind.CLIENT, attributes=server("api/orders/", "POST")
        ):
            pass
        with tracer.start_as_current_span("SELECT", kind=SpanKind.CLIENT, attributes={"db.system": "sqlite"}):
            pass
        with tracer.start_as_current_span("apply_async/orders.finalize_order", kind=SpanKind.PRODUCER):
            pass
    spans = exported.get_finished_spans()
    assert len(spans) == 4 and len({span.context.trace_id for span in spans}) == 1
    [root] = [dict(span.attributes or {}) for span in spans if span.parent is None]
    assert root[SAMPLING_RULE] == "api/shop/checkout/*"
    assert all(SAMPLING_RULE not in (span.attributes or {}) for span in spans if span.parent)  # roots only


def test_children_of_a_local_root_not_kept_are_dropped_and_its_server_spans_recorded():
    exported, recorded = InMemorySpanExporter(), Recorded()
    tracer = provider(
        build_sampler(rules="api/shop/checkout/*=0.0", rate=1.0), SimpleSpanProcessor(exported), recorded
    ).get_tracer(__name__)
    with tracer.start_as_current_span(
        "POST api/shop/checkout/", kind=SpanKind.SERVER, attributes=server("api/shop/checkout/", "POST")
    ) as root:
        assert root.is_recording() and not root.get_span_context().trace_flags.sampled
        with tracer.start_as_current_span("checkout") as step:
            assert not step.is_recording()
        with tracer.start_as_current_span("run/orders.finalize_order", kind=SpanKind.CONSUMER) as run:
            assert run.is_recording()  # eager Celery in the same process
    assert exported.get_finished_spans() == ()
    assert [span.name for span in recorded.ended] == ["run/orders.finalize_order", "POST api/shop/checkout/"]


@pytest.mark.parametrize("kind", [SpanKind.SERVER, SpanKind.CONSUMER])
def test_a_remote_parent_decides_for_the_next_process(kind):
    """Across a REST hop or the broker: a sampled traceparent is kept even where this
    process's own rule says 0; an unsampled one is not kept even where it says 1 (its
    server or consumer span recorded, its other spans dropped)."""
    keeps_nothing = build_sampler(rules="", rate=0.0)
    keeps_everything = build_sampler(rules="", rate=1.0)
    kept = decide(
        keeps_nothing, "POST api/orders/", server("api/orders/", "POST"), kind, parent=remote_parent(True)
    )
    assert kept.decision is Decision.RECORD_AND_SAMPLE and SAMPLING_RULE not in kept.attributes
    dropped = decide(
        keeps_everything, "POST api/orders/", server("api/orders/", "POST"), kind, parent=remote_parent(False)
    )
    assert dropped.decision is Decision.RECORD_ONLY and dropped.attributes["http.method"] == "POST"
    statement = decide(
        keeps_everything, "UPDATE", {"db.system": "sqlite"}, SpanKind.CLIENT, parent=remote_parent(False)
    )
    assert statement.decision is Decision.DROP


def not_sampled_traceparent(carrier: dict[str, str], trace_id: str) -> bool:
    version, traced, _, flags = carrier["traceparent"].split("-")
    return (version, traced) == ("00", trace_id) and not int(flags, 16) & 0x01


def test_a_recorded_span_passes_on_a_not_sampled_traceparent():
    """A RECORD_ONLY server span, and the HTTP call under it (recorded too, for the edge),
    propagate the trace id with the sampled flag off: the next process drops the trace too. (The flags are 02,
    not 00: SDK 1.45 also sets W3C level 2's random-trace-id flag on the ids it makes.)"""
    tracer = provider(build_sampler(rules="", rate=0.0)).get_tracer(__name__)
    with tracer.start_as_current_span("GET cart/", kind=SpanKind.SERVER, attributes=server("cart/")) as root:
        trace_id = format(root.get_span_context().trace_id, "032x")
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        with tracer.start_as_current_span(
            "GET", kind=SpanKind.CLIENT, attributes=server("api/orders/")
        ) as call:
            assert call.is_recording() and not call.get_span_context().trace_flags.sampled
            downstream: dict[str, str] = {}
            propagate.inject(downstream)
    assert not_sampled_traceparent(carrier, trace_id) and not_sampled_traceparent(downstream, trace_id)
    keeps_everything = build_sampler(rules="", rate=1.0)
    arrives = decide(
        keeps_everything, "GET api/orders/", server("api/orders/"), parent=propagate.extract(downstream)
    )
    assert arrives.decision is Decision.RECORD_ONLY


def test_the_stores_batch_processor_exports_no_recorded_only_span_but_a_processor_sees_them():
    exported, recorded = InMemorySpanExporter(), Recorded()
    made = provider(build_sampler(rules="cart/=0.0", rate=1.0), BatchSpanProcessor(exported), recorded)
    tracer = made.get_tracer(__name__)
    for _ in range(5):
        with tracer.start_as_current_span("GET cart/", kind=SpanKind.SERVER, attributes=server("cart/")):
            pass
    with tracer.start_as_current_span(
        "GET api/orders/", kind=SpanKind.SERVER, attributes=server("api/orders/")
    ):
        pass
    made.force_flush()
    assert [span.name for span in exported.get_finished_spans()] == ["GET api/orders/"]
    assert len(recorded.ended) == 6
    made.shutdown()


# --- the standard variables, and the settings that carry them ----------------------------------


def test_otel_traces_sampler_decides_when_no_threadline_rule_is_set():
    off = build_sampler(rules="", rate=1.0, standard="always_off")
    assert isinstance(off, StandardSampler)
    assert kept_share(off, "GET cart/", server("cart/")) == 0.0
    # the shared decision still holds: requests and tasks recorded, the rest dropped
    assert decide(off, "GET cart/", server("cart/")).decision is Decision.RECORD_ONLY
    assert decide(off, "checkout", {}, SpanKind.INTERNAL).decision is Decision.DROP

    ratio = build_sampler(rules="", rate=1.0, standard="TraceIdRatio", standard_arg="0.1")
    assert within_4_sd(kept_share(ratio, "GET cart/", server("cart/")), 0.1)
    kept = next(
        result
        for trace_id in trace_ids(200)
        if (result := decide(ratio, "GET cart/", server("cart/"), trace_id=trace_id)).decision.is_sampled()
    )
    assert (kept.attributes[SAMPLING_RULE], kept.attributes[SAMPLING_PROBABILITY]) == (
        "OTEL_TRACES_SAMPLER=traceidratio",
        0.1,
    )


def test_a_parent_based_standard_sampler_follows_parents_with_the_shared_decision():
    sampler = build_sampler(rules="", rate=1.0, standard="parentbased_traceidratio", standard_arg="0")
    assert decide(sampler, "GET cart/", server("cart/")).decision is Decision.RECORD_ONLY
    assert (
        decide(sampler, "GET cart/", server("cart/"), parent=remote_parent(True)).decision
        is Decision.RECORD_AND_SAMPLE
    )
    assert decide(sampler, "SELECT", {"db.system": "sqlite"}, SpanKind.CLIENT).decision is Decision.DROP
    always_on = build_sampler(rules="", rate=1.0, standard="always_on")
    assert decide(always_on, "run/telemetry.evaluate_alerts", {}, SpanKind.CONSUMER).decision is Decision.DROP


def test_threadline_rules_or_rate_take_precedence_over_otel_traces_sampler():
    assert not isinstance(
        build_sampler(rules="admin/*=0.1", rate=1.0, standard="always_off"), StandardSampler
    )
    assert not isinstance(build_sampler(rules="", rate=0.5, standard="always_off"), StandardSampler)
    assert kept_share(build_sampler(rules="", rate=1.0, standard=""), "GET cart/", server("cart/")) == 1.0


@pytest.mark.parametrize(
    ("standard", "arg", "named"),
    [
        ("sometimes", "", "OTEL_TRACES_SAMPLER"),
        ("traceidratio", "half", "OTEL_TRACES_SAMPLER_ARG"),
        ("traceidratio", "2", "OTEL_TRACES_SAMPLER_ARG"),
    ],
)
def test_a_bad_otel_traces_sampler_is_refused(standard, arg, named):
    with pytest.raises(ImproperlyConfigured, match=named):
        build_sampler(rules="", rate=1.0, standard=standard, standard_arg=arg)


def process_settings(**env: str) -> dict:
    """The settings and the sampler a fresh process gets from ``env`` (settings.py reads the
    environment once, at import: a new process is the way to try other values)."""
    script = (
        "import json, django; django.setup(); from django.conf import settings;"
        "from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter;"
        "from instrumentation.setup import configure;"
        "provider = configure(exporter=InMemorySpanExporter());"
        "print(json.dumps({'enabled': settings.TELEMETRY_ENABLED, 'rules': settings.TELEMETRY_SAMPLING_RULES,"
        "'standard': settings.OTEL_TRACES_SAMPLER, 'arg': settings.OTEL_TRACES_SAMPLER_ARG,"
        "'sampler': provider.sampler.get_description() if provider else None}))"
    )
    base = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("OTEL_", "TELEMETRY_SAMPLE", "TELEMETRY_SAMPLING", "TELEMETRY_ENABLED"))
    }
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_a_process_reads_the_sampling_settings_from_its_environment():
    default = process_settings()
    assert default["rules"] == _DEFAULT_SAMPLING_RULES and default["sampler"].startswith(
        "ParentBased{root:HeadRules{"
    )

    standard = process_settings(OTEL_TRACES_SAMPLER="traceidratio", OTEL_TRACES_SAMPLER_ARG="0.25")
    assert standard["rules"] == ""  # the standard sampler asked for: no default rules
    assert standard["sampler"] == "StandardSampler{TraceIdRatioBased{0.25}}"

    both = process_settings(OTEL_TRACES_SAMPLER="always_off", TELEMETRY_SAMPLING_RULES="admin/*=0.5")
    assert "HeadRules{admin/*=0.5;default=1.0}" in both["sampler"]


def test_otel_sdk_disabled_turns_tracing_off():
    disabled = process_settings(OTEL_SDK_DISABLED="true")
    assert disabled["enabled"] is False and disabled["sampler"] is None
