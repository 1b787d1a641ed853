"""The OpenTelemetry Collector configuration in ``deploy/otel-collector`` agrees with the
embedded tail retention's settings (their defaults: the file writes numbers, not
variables), routes by trace id, and wires every component a pipeline names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from django.conf import settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
TIERS = ("premium", "free")  # the tiers with policies of their own; any other is standard
ALL_TIERS = ("premium", "standard", "free")
SECTIONS = {"receivers", "processors", "exporters", "connectors"}


def _load(name: str) -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "otel-collector" / name).read_text())


def _multipliers() -> dict[str, float]:
    """``premium=1.5,standard=1.0,free=0.5`` as a dict."""
    pairs = (item.split("=") for item in settings.TELEMETRY_TIER_MULTIPLIERS.split(",") if item.strip())
    return {tier.strip(): float(value) for tier, value in pairs}


def _percent(share: float, tier: str) -> float:
    """A share times the tier's multiplier, capped at 1, as the collector's percentage."""
    return round(min(share * _multipliers().get(tier, 1.0), 1.0) * 100, 6)


def _policies() -> dict[str, dict[str, Any]]:
    policies = _load("sampler.yaml")["processors"]["tail_sampling"]["policies"]
    return {policy["name"]: policy for policy in policies}


def _subpolicies(policy: dict[str, Any]) -> dict[str, dict[str, Any]]:
    assert policy["type"] == "and"
    return {sub["type"]: sub[sub["type"]] for sub in policy["and"]["and_sub_policy"]}


def _tier_of(subpolicies: dict[str, dict[str, Any]]) -> str:
    """The tier an ``and`` policy is for: the one its string_attribute matches, or
    "standard" when it matches every trace not of a named tier."""
    match = subpolicies["string_attribute"]
    assert match["key"] == "customer.tier"
    if match.get("invert_match"):
        assert sorted(match["values"]) == sorted(TIERS)
        return "standard"
    [tier] = match["values"]
    return tier


def test_decision_wait_is_the_settings():
    """The sampler waits as long for a trace's last spans as the store does."""
    wait = _load("sampler.yaml")["processors"]["tail_sampling"]["decision_wait"]
    assert wait == f"{settings.TELEMETRY_TAIL_DECISION_WAIT:g}s"


def test_every_error_trace_is_kept():
    """One policy keeps any trace with an ERROR span, alone (not inside an ``and``)."""
    errors = [policy for policy in _policies().values() if policy["type"] == "status_code"]
    assert [policy["status_code"]["status_codes"] for policy in errors] == [["ERROR"]]


@pytest.mark.parametrize("tier", ALL_TIERS)
def test_slow_traces_are_kept_at_the_slow_share_times_the_tier(tier):
    """A trace over TELEMETRY_TAIL_SLOW_MS is kept at TELEMETRY_TAIL_SLOW_SHARE times the
    tier's multiplier: latency, tier and share in one ``and`` policy."""
    policy = _subpolicies(_policies()[f"slow-{tier}"])
    assert _tier_of(policy) == tier
    assert policy["latency"] == {"threshold_ms": settings.TELEMETRY_TAIL_SLOW_MS}
    share = _percent(settings.TELEMETRY_TAIL_SLOW_SHARE, tier)
    assert policy["probabilistic"]["sampling_percentage"] == share


@pytest.mark.parametrize("tier", ALL_TIERS)
def test_other_traces_are_kept_at_the_base_share_times_the_tier(tier):
    """Every trace is kept at TELEMETRY_TAIL_BASE_SHARE times the tier's multiplier."""
    policy = _subpolicies(_policies()[f"base-{tier}"])
    assert _tier_of(policy) == tier
    assert set(policy) == {"string_attribute", "probabilistic"}
    share = _percent(settings.TELEMETRY_TAIL_BASE_SHARE, tier)
    assert policy["probabilistic"]["sampling_percentage"] == share


def test_no_other_policies_and_one_hash_salt():
    """Only the policies above, and no probabilistic policy sets a salt of its own: with one
    salt a smaller share keeps a subset of a larger one, so a slow trace is kept at the
    slow share however many policies match it."""
    names = {"errors"} | {f"{kind}-{tier}" for kind in ("slow", "base") for tier in ALL_TIERS}
    assert set(_policies()) == names
    ands = [_subpolicies(policy) for policy in _policies().values() if policy["type"] == "and"]
    assert all("hash_salt" not in subpolicies["probabilistic"] for subpolicies in ands)


def test_the_agent_routes_every_span_of_a_trace_to_one_sampler():
    """The agent's loadbalancing exporter is keyed by trace id and exports OTLP."""
    balancer = _load("agent.yaml")["exporters"]["loadbalancing"]
    assert balancer["routing_key"] == "traceID"
    assert "otlp" in balancer["protocol"]
    assert {"dns", "static"} & set(balancer["resolver"])


def test_metrics_are_counted_before_sampling():
    """spanmetrics takes its spans from the agent's traces pipeline, which does no
    sampling; the sampler tier counts nothing."""
    agent = _load("agent.yaml")["service"]["pipelines"]
    [traces] = [pipeline for name, pipeline in agent.items() if name.split("/")[0] == "traces"]
    assert "spanmetrics" in traces["exporters"] and "tail_sampling" not in traces.get("processors", [])
    assert any("spanmetrics" in pipeline["receivers"] for pipeline in agent.values())
    assert "connectors" not in _load("sampler.yaml")


@pytest.mark.parametrize("name", ["agent.yaml", "sampler.yaml"])
def test_pipelines_name_only_defined_components(name):
    """Every receiver, processor, exporter and connector a pipeline names is defined, every
    one defined is used, and a connector is both exported to and received from."""
    config = _load(name)
    pipelines = config["service"]["pipelines"]
    used: dict[str, set[str]] = {section: set() for section in SECTIONS}
    connectors = set(config.get("connectors", {}))
    for pipeline in pipelines.values():
        used["processors"] |= set(pipeline.get("processors", []))
        for role in ("receivers", "exporters"):
            names = set(pipeline[role])
            used["connectors"] |= names & connectors
            used[role] |= names - connectors
    for section in SECTIONS:
        assert used[section] == set(config.get(section) or {}), section
    for connector in connectors:
        assert any(connector in pipeline["exporters"] for pipeline in pipelines.values())
        assert any(connector in pipeline["receivers"] for pipeline in pipelines.values())


def test_the_sampler_exports_what_it_keeps():
    """The sampler's traces pipeline samples and then exports over OTLP to the backend."""
    [traces] = _load("sampler.yaml")["service"]["pipelines"].values()
    assert traces["processors"][0] == "tail_sampling"
    assert all(exporter.split("/")[0] == "otlp" for exporter in traces["exporters"])


def test_the_compose_sketch_mounts_these_files():
    """docker-compose.yaml runs the two tiers on these files, the sampler replicated under
    the name the agent's DNS resolver asks for."""
    compose = yaml.safe_load((DEPLOY / "docker-compose.yaml").read_text())["services"]
    hostname = _load("agent.yaml")["exporters"]["loadbalancing"]["resolver"]["dns"]["hostname"]
    assert compose[hostname]["deploy"]["replicas"] >= 2
    assert any("sampler.yaml" in volume for volume in compose[hostname]["volumes"])
    assert any("agent.yaml" in volume for volume in compose["agent"]["volumes"])
