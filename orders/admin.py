"""Orders in the admin: filter by status or customer tier, search by id or email, the lines
and the event history inline, a link from the order to its trace, and for a failed order
the root cause the trace's diagnosis names; the list shows each order's failure group
(``/traces/failures/``), looked up once per page. Read-only: an order, its lines, events and
outbox rows record what happened, and change only through the orders services.

The diagnosis comes from the trace store through ``instrumentation.diagnosis`` (the store
named by a setting), so this app imports no store."""

from datetime import UTC

from django.contrib import admin
from django.db import DatabaseError
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from core.readonly_admin import ReadOnlyAdmin, ReadOnlyTabularInline
from instrumentation.diagnosis import order_diagnosis, order_failure_groups
from orders.models import Order, OrderEvent, OrderLine, OutboxMessage


def trace_link(trace_id: str) -> str:
    if not trace_id:
        return "-"
    return format_html('<a href="{}">{}</a>', reverse("telemetry:trace-detail", args=[trace_id]), trace_id)


def short_trace_link(trace_id: str) -> str:
    """The trace link as a list column: the id's first 8 digits (enough to tell rows apart;
    the full id is the tooltip), so the order list fits a 1280 px screen."""
    if not trace_id:
        return "-"
    return format_html(
        '<a href="{}" title="trace {}" class="trace-link">{}…</a>',
        reverse("telemetry:trace-detail", args=[trace_id]),
        trace_id,
        trace_id[:8],
    )


class OrderLineInline(ReadOnlyTabularInline):
    model = OrderLine
    fields = ("sku", "name", "quantity", "unit_price_cents", "line_total")
    readonly_fields = fields

    @admin.display(description="line total (cents)")
    def line_total(self, line: OrderLine) -> int:
        return line.total_cents


class OrderEventInline(ReadOnlyTabularInline):
    model = OrderEvent
    fields = ("at", "kind", "message", "trace")
    readonly_fields = fields

    @admin.display(description="at (UTC)")
    def at(self, event: OrderEvent) -> str:
        """To the millisecond: a retry schedule (attempts 100 ms apart) reads as one."""
        return event.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]

    @admin.display(description="trace")
    def trace(self, event: OrderEvent) -> str:
        return short_trace_link(event.trace_id)


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    # Narrow columns (short ids, the reason cut with the whole text as its tooltip) and no app
    # sidebar on this list, so all of it, the trace column included, fits a 1280 px screen.
    list_display = (
        "short_id",
        "email",
        "tier",
        "status_and_group",
        "total",
        "short_reason",
        "created",
        "trace_column",
    )
    list_display_links = ("short_id",)
    list_filter = ("status", "customer_tier", "created_at")
    search_fields = ("=id", "email", "trace_id")
    date_hierarchy = "created_at"
    # What happened to the order first; its trace and the recorded context last, shown as
    # text (a JSON field would otherwise open the page as a form field of its own).
    ORDER_FIELDS = (
        *("id", "email", "customer_tier", "status", "reason", "root_cause"),
        *("total_cents", "currency", "confirmation_code", "created_at", "updated_at"),
    )
    TRACE_FIELDS = ("trace", "trace_context_text", "idempotency_key")
    fieldsets = ((None, {"fields": ORDER_FIELDS}), ("Trace", {"fields": TRACE_FIELDS}))
    readonly_fields = ORDER_FIELDS + TRACE_FIELDS  # every field shown, none editable
    inlines = [OrderLineInline, OrderEventInline]

    REASON_CHARS = 48

    def changelist_view(self, request, extra_context=None):
        # The app sidebar takes a quarter of a 1280 px screen from a wide list; the
        # breadcrumbs still lead back, and the other admin pages keep it.
        return super().changelist_view(request, {"is_nav_sidebar_enabled": False, **(extra_context or {})})

    @admin.display(description="order", ordering="id")
    def short_id(self, order: Order) -> str:
        return format_html('<span title="{}" class="mono">{}…</span>', order.id, str(order.id)[:8])

    @admin.display(description="tier", ordering="customer_tier")
    def tier(self, order: Order) -> str:
        return order.get_customer_tier_display()

    @admin.display(description="created (UTC)", ordering="created_at")
    def created(self, order: Order) -> str:
        return f"{order.created_at:%Y-%m-%d %H:%M}"  # TIME_ZONE is UTC

    @admin.display(description="reason", ordering="reason")
    def short_reason(self, order: Order) -> str:
        if len(order.reason) <= self.REASON_CHARS:
            return order.reason or "-"
        return format_html('<span title="{}">{}…</span>', order.reason, order.reason[: self.REASON_CHARS - 1])

    @admin.display(description="total", ordering="total_cents")
    def total(self, order: Order) -> str:
        return f"{order.total_cents / 100:.2f} {order.currency}"

    @admin.display(description="trace")
    def trace(self, order: Order) -> str:
        return trace_link(order.trace_id)

    @admin.display(description="trace", ordering="trace_id")
    def trace_column(self, order: Order) -> str:
        return short_trace_link(order.trace_id)

    @admin.display(description="trace context")
    def trace_context_text(self, order: Order) -> str:
        """The recorded W3C context, one ``key: value`` line each (read-only text)."""
        if not order.trace_context:
            return "-"
        lines = format_html_join("\n", "{}: {}", sorted(order.trace_context.items()))
        return format_html('<pre class="trace-context" style="margin:0;white-space:pre-wrap">{}</pre>', lines)

    @admin.display(description="root cause")
    def root_cause(self, order: Order) -> str:
        """The diagnosis's one line for a failed (or failing) order, read from its stored trace."""
        if order.status not in (Order.Status.FAILING, Order.Status.FAILED):
            return "-"
        try:
            diagnosis = order_diagnosis(str(order.id), order.trace_id)
        except DatabaseError:  # the span store is an aid: its absence must not break the page
            return "the trace store could not be read"
        if diagnosis is None:
            return "no stored trace for this order (yet)"
        return format_html("{} ({})", diagnosis.summary, trace_link(diagnosis.trace_id))

    @admin.display(description="status", ordering="status")
    def status_and_group(self, order: Order) -> str:
        """The status, and under it the failure group the trace store filed the order's trace
        in (one column, so the list still fits 1280 px)."""
        group = getattr(order, "failure_group_found", None)
        if group is None:
            return order.get_status_display()
        return format_html(
            '{}<br><a class="failure-group" href="{}" title="{}">{}</a>',
            order.get_status_display(),
            group.path,
            group.title,
            group.label,
        )

    def get_changelist_instance(self, request):
        """The page's orders get their failure groups in one call to the store, not one per row."""
        changelist = super().get_changelist_instance(request)
        try:
            groups = order_failure_groups([str(order.pk) for order in changelist.result_list])
        except DatabaseError:  # the span store is an aid: the list shows without groups
            groups = {}
        for order in changelist.result_list:
            order.failure_group_found = groups.get(str(order.pk))
        return changelist

    def get_search_results(self, request, queryset, search_term):
        # "=id" on a UUID field fails on text that is not a UUID; fall back to the rest.
        try:
            return super().get_search_results(request, queryset, search_term)
        except Exception:
            return queryset.filter(email__icontains=search_term), False


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ReadOnlyAdmin):
    list_display = ("id", "order", "task_name", "created_at", "delivered_at", "attempts", "last_error")
    list_filter = ("task_name", ("delivered_at", admin.EmptyFieldListFilter))
    search_fields = ("=order__id",)
    readonly_fields = [field.name for field in OutboxMessage._meta.fields]
