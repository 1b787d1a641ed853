"""Alert rules evaluated on the metrics' numbers: a breach fires once and mails the admins
with trace links, a recovery clears and mails again, the banner shows on the admin and
the dashboard while a rule fires, and evaluating creates no spans."""

from __future__ import annotations

import time

import pytest
from django.urls import reverse

from synthetic import builders as span_rows
from synthetic.builders import NOW, add_span, trace_id
from telemetry.dashboard.alerts import alerts_evaluate
from telemetry.models import AlertRule, AlertState, Span, SpanMetric
from telemetry.tasks import evaluate_alerts

pytestmark = pytest.mark.django_db(databases="__all__")


@pytest.fixture(autouse=True)
def admins(settings) -> None:
    settings.ADMINS = [("Ops", "ops@threadline.test")]


@pytest.fixture
def authorisations() -> None:
    """payments in the last 5 min: 10, 20 (failed), 40 and 30 ms → error rate 25 %, p95 40 ms."""
    add_span("p1", "payments", "POST authorize", ago_s=290, ms=10)
    add_span("p2", "payments", "POST authorize", ago_s=200, ms=20, status="ERROR")
    add_span("p3", "payments", "POST authorize", ago_s=100, ms=40)
    add_span("p4", "payments", "POST authorize", ago_s=10, ms=30)


def error_rule(threshold: float = 0.2, **fields) -> AlertRule:
    fields = {"name": "payments errors", "service": "payments", "window_seconds": 300, **fields}
    return AlertRule.objects.create(kind=AlertRule.Kind.ERROR_RATE, threshold=threshold, **fields)


def state(rule: AlertRule) -> AlertState:
    return AlertState.objects.get(rule=rule)


def test_a_breach_fires_once_and_mails_the_admins_with_a_trace_link(authorisations, mailoutbox, settings):
    """25 % errors > 20 %: the rule fires with the failed trace as example, one mail to
    ADMINS links to it; the next run finds it still firing and sends nothing."""
    rule = error_rule()
    assert alerts_evaluate(now_ns=NOW) == {"fired": 1}
    fired = state(rule)
    assert fired.firing and fired.since is not None and fired.last_evaluated is not None
    assert fired.last_value == 0.25
    assert fired.example_trace_ids == [trace_id("p2")]
    [mail] = mailoutbox
    assert mail.to == ["ops@threadline.test"]
    assert "payments errors" in mail.subject and "25.0%" in mail.subject
    assert f"{settings.THREADLINE_BASE_URL}/traces/{trace_id('p2')}/" in mail.body

    assert alerts_evaluate(now_ns=NOW) == {"firing": 1}
    assert state(rule).since == fired.since
    assert len(mailoutbox) == 1


def test_recovery_clears_the_state_and_mails(authorisations, mailoutbox):
    """Once the errors fall to 1 in 5 (20 %, not above the threshold) the rule recovers:
    not firing, no examples, a "recovered" mail."""
    rule = error_rule()
    alerts_evaluate(now_ns=NOW)
    add_span("p5", "payments", "POST authorize", ago_s=5, ms=10)
    assert alerts_evaluate(now_ns=NOW) == {"recovered": 1}
    cleared = state(rule)
    assert not cleared.firing and cleared.since is None and cleared.example_trace_ids == []
    assert cleared.last_value == 0.2
    assert [m.subject for m in mailoutbox][-1].endswith("Alert recovered: payments errors (20.0%)")
    assert len(mailoutbox) == 2


def test_a_p95_rule_fires_with_the_slowest_traces(authorisations, mailoutbox):
    """p95 of 10/20/40/30 ms is 40 ms > 35 ms; the examples are the slowest traces first."""
    rule = AlertRule.objects.create(
        name="slow authorize",
        service="payments",
        operation="POST authorize",
        kind=AlertRule.Kind.P95_MS,
        threshold=35,
        window_seconds=300,
    )
    alerts_evaluate(now_ns=NOW)
    fired = state(rule)
    assert fired.firing and fired.last_value == 40
    assert fired.example_trace_ids == [trace_id("p3"), trace_id("p4"), trace_id("p2")]
    assert f"/traces/{trace_id('p3')}/" in mailoutbox[0].body


def test_the_window_operation_and_silence_do_not_fire(authorisations, mailoutbox):
    """Only the rule's window counts (60 s: one call, no error); another operation has no
    calls, and no calls give no value: nothing fires, nothing is mailed."""
    short = error_rule(threshold=0.0, window_seconds=60, name="last minute")
    other = error_rule(threshold=0.0, operation="POST capture", name="captures")
    assert alerts_evaluate(now_ns=NOW) == {"ok": 2}
    assert state(short).last_value == 0.0
    assert state(other).last_value is None
    assert mailoutbox == []


def test_disabled_rules_are_not_evaluated_and_stop_firing(authorisations, mailoutbox):
    """Disabling a firing rule clears it without a mail; it is no longer evaluated."""
    rule = error_rule()
    alerts_evaluate(now_ns=NOW)
    AlertRule.objects.filter(pk=rule.pk).update(enabled=False)
    assert alerts_evaluate(now_ns=NOW) == {}
    assert not state(rule).firing
    assert len(mailoutbox) == 1


def test_evaluating_creates_no_spans(spans):
    """The beat task's run and its reads are not traced (storing spans creates no spans,
    and neither does watching them)."""
    error_rule()
    before = Span.objects.count()
    result = evaluate_alerts.apply()
    assert result.successful(), result.traceback
    assert result.result == {"ok": 1}
    assert spans.get_finished_spans() == ()
    assert Span.objects.count() == before


@pytest.fixture
def recent_authorisations(monkeypatch) -> None:
    """The same calls, but ending now: the pages evaluate windows against the clock."""
    monkeypatch.setattr(span_rows, "NOW", time.time_ns())
    add_span("p2", "payments", "POST authorize", ago_s=20, ms=20, status="ERROR")
    add_span("p3", "payments", "POST authorize", ago_s=10, ms=40)


@pytest.mark.parametrize("page", ["admin:index", "telemetry:services", "telemetry:metrics"])
def test_the_banner_shows_while_a_rule_fires_and_goes_after(admin_client, recent_authorisations, page):
    """Staff see the firing rule on the admin and the dashboard pages, with a link to an
    example trace; once it recovers the banner is gone."""
    rule = error_rule()
    alerts_evaluate()
    html = admin_client.get(reverse(page)).content.decode()
    assert 'class="alert-banner"' in html
    assert "payments errors" in html
    assert reverse("telemetry:trace-detail", args=[trace_id("p2")]) in html

    SpanMetric.objects.filter(status="ERROR").delete()  # the metric rows are what alerts count
    alerts_evaluate()
    assert not state(rule).firing
    assert 'class="alert-banner"' not in admin_client.get(reverse(page)).content.decode()


def test_the_admin_keeps_its_branding_and_lists_rules_with_their_state(admin_client, recent_authorisations):
    """The overridden base_site still shows Django's header; the rule list shows firing."""
    error_rule()
    alerts_evaluate()
    html = admin_client.get(reverse("admin:telemetry_alertrule_changelist")).content.decode()
    assert "Django administration" in html
    assert "firing" in html and "50.0%" in html


def test_customers_never_see_the_banner(client, recent_authorisations):
    """The storefront renders the same context processor; only staff get firing_alerts."""
    error_rule()
    alerts_evaluate()
    response = client.get(reverse("telemetry:services"))
    assert response.status_code == 302
    from telemetry.dashboard.context_processors import firing_alerts

    request = type("Request", (), {"user": type("Anonymous", (), {"is_staff": False})()})()
    assert not firing_alerts(request)["firing_alerts"]


def test_only_staff_who_may_see_alert_rules_get_the_banner(client, django_user_model, recent_authorisations):
    """A support user (view permission on alert rules) sees it; a staff member without
    permissions, who may not open the rules either, does not."""
    from django.contrib.auth.models import Group

    from telemetry.access import SUPPORT_GROUP

    error_rule()
    alerts_evaluate()
    support = django_user_model.objects.create_user("support", is_staff=True)
    support.groups.add(Group.objects.get(name=SUPPORT_GROUP))
    client.force_login(support)
    assert 'class="alert-banner"' in client.get(reverse("admin:index")).content.decode()
    client.force_login(django_user_model.objects.create_user("staff", is_staff=True))
    assert 'class="alert-banner"' not in client.get(reverse("admin:index")).content.decode()
