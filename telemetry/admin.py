"""Alert rules in the admin (staff only), with the state the last evaluation left."""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from telemetry.dashboard.alerts import format_value
from telemetry.models import AlertRule, AlertState


class AlertStateInline(admin.StackedInline):
    model = AlertState
    can_delete = False
    extra = 0
    max_num = 0
    fields = readonly_fields = ("firing", "since", "last_value", "examples", "last_evaluated")

    @admin.display(description="example traces")
    def examples(self, state: AlertState) -> str:
        return format_html_join(
            " ",
            '<a href="{}"><code>{}</code></a>',
            (
                (reverse("telemetry:trace-detail", args=[trace_id]), trace_id[:12])
                for trace_id in state.example_trace_ids
            ),
        )


@admin.register(AlertRule)
class AlertRuleAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "service",
        "operation",
        "kind",
        "threshold",
        "window_seconds",
        "enabled",
        "status",
        "value",
    )
    list_filter = ("enabled", "kind", "service")
    search_fields = ("name", "service", "operation")
    inlines = [AlertStateInline]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("state")

    @admin.display(description="state")
    def status(self, rule: AlertRule) -> str:
        state = getattr(rule, "state", None)
        if state is None or state.last_evaluated is None:
            return "not evaluated yet"
        if state.firing:
            return format_html('<strong style="color:#b91c1c">firing</strong> since {}', state.since)
        return "ok"

    @admin.display(description="last value")
    def value(self, rule: AlertRule) -> str:
        state = getattr(rule, "state", None)
        return format_value(rule, state.last_value) if state else "-"
