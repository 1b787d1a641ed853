"""The embedded trace store: one row per finished span, in the ``telemetry`` database."""

from django.db import models


class Span(models.Model):
    trace_id = models.CharField(max_length=32)  # looked up through span_unique_in_trace
    span_id = models.CharField(max_length=16)
    parent_span_id = models.CharField(max_length=16, blank=True, default="")
    name = models.CharField(max_length=300)
    service = models.CharField(max_length=100)
    kind = models.CharField(max_length=20)
    start_time_ns = models.BigIntegerField()
    end_time_ns = models.BigIntegerField()
    duration_ns = models.BigIntegerField()
    status = models.CharField(max_length=10)  # UNSET, OK or ERROR
    status_message = models.TextField(blank=True, default="")
    attributes = models.JSONField(default=dict)
    events = models.JSONField(default=list)
    links = models.JSONField(default=list)
    resource = models.JSONField(default=dict)
    # Copied from the ``order.id`` attribute so an order's trace is one index lookup away.
    order_id = models.CharField(max_length=36, blank=True, default="", db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["trace_id", "span_id"], name="span_unique_in_trace"),
        ]
        # Every index is written with every span (issue 15: ingest); the trace list and
        # search read ``Trace`` and ``TraceAttribute``, a trace page the unique constraint,
        # an order's trace ``order_id``. By time (and service) only this one:
        indexes = [
            # Covers the metrics read (telemetry/metrics.py): requests and task runs of a
            # window come from the index alone, never from the wide span rows.
            models.Index(
                fields=["kind", "start_time_ns", "service", "name", "duration_ns", "status", "trace_id"],
                name="span_kind_start_cover",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.service} {self.name} ({self.span_id})"


class Trace(models.Model):
    """One row per trace, kept current as its spans are stored (``telemetry.store.index``): what
    trace search filters, sorts and counts, so a search never groups the span table."""

    trace_id = models.CharField(max_length=32, primary_key=True)
    start_ns = models.BigIntegerField()  # the earliest span's start
    end_ns = models.BigIntegerField()  # the latest span's end
    duration_ns = models.BigIntegerField()
    span_count = models.PositiveIntegerField()
    error_count = models.PositiveIntegerField()
    root_name = models.CharField(max_length=300)
    root_service = models.CharField(max_length=100)
    # Which span names the trace: the lowest rank wins. A parentless span ranks by its start
    # time; any other span by its start time plus ROOT_RANK_CHILD, so a child only names a
    # trace until (if ever) its root arrives. One integer, so the upsert compares one column.
    root_rank = models.BigIntegerField()
    # Tail retention (``telemetry.store.tail``). Written by raw SQL too (the index's upsert),
    # hence the database defaults. ``last_stored_ns``: wall clock of the last batch that
    # stored spans of the trace, for "quiet"; ``tier``: the first ``customer.tier`` seen.
    last_stored_ns = models.BigIntegerField(default=0, db_default=0)
    tier = models.CharField(max_length=20, blank=True, default="", db_default="")
    decision = models.CharField(max_length=4, blank=True, default="", db_default="")  # Decision
    decision_reason = models.CharField(max_length=20, blank=True, default="", db_default="")  # Reason
    decision_share = models.FloatField(null=True, blank=True)  # the effective share drawn against
    decided_at = models.DateTimeField(null=True, blank=True)
    # Kept after a drop because an error arrived late: the spans stored before are gone.
    incomplete = models.BooleanField(default=False, db_default=False)
    # Spans refused at ingest because the trace or their parent was over its cap
    # (``telemetry.store.caps``): the trace page says the trace is cut short, and by how much.
    dropped_span_count = models.PositiveIntegerField(default=0, db_default=0)

    ROOT_RANK_CHILD = 2**62  # above any start time in nanoseconds until the year 2116

    class Decision(models.TextChoices):
        PENDING = "", "not decided yet"
        KEEP = "keep", "kept"
        DROP = "drop", "dropped"

    class Reason(models.TextChoices):
        ERROR = "error", "it has an error"
        SLOW = "slow", "slow, drawn at the slow share"
        BASE = "base", "drawn at the base share"
        LATE_ERROR = "late_error", "an error arrived after it was dropped"

    class Meta:
        indexes = [
            # The decision's read: pending traces, the longest quiet first.
            models.Index(fields=["decision", "last_stored_ns"], name="trace_pending"),
            models.Index(fields=["start_ns"], name="trace_start"),
            models.Index(fields=["duration_ns", "start_ns"], name="trace_duration"),
            models.Index(fields=["span_count", "start_ns"], name="trace_span_count"),
            models.Index(fields=["root_name", "start_ns"], name="trace_root_name"),
        ]

    def __str__(self) -> str:
        return f"{self.root_name} ({self.trace_id})"


class TraceAttribute(models.Model):
    """ "Some span of this trace has ``key`` = ``value``": the index behind attribute search.

    One row per distinct pair in a trace, values as text (``500``, ``true``). Besides the
    spans' own attributes, ``:service`` holds each service in the trace and ``:operation``
    each ``service<TAB>span name``. Values longer than ``MAX_VALUE``, and measurements
    (``telemetry.store.index.UNINDEXED_KEYS``: a duration, a count, a one-off id) are not
    indexed; searching for one reads the spans instead.
    """

    SERVICE = ":service"
    OPERATION = ":operation"
    MAX_VALUE = 400

    trace_id = models.CharField(max_length=32)
    key = models.CharField(max_length=200)
    value = models.CharField(max_length=MAX_VALUE)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["trace_id", "key", "value"], name="trace_attribute_unique"),
        ]
        # Search goes from a pair to its traces; a page of results from its traces to a few
        # keys. One index each way, both covering.
        indexes = [models.Index(fields=["key", "value", "trace_id"], name="trace_attribute_search")]

    def __str__(self) -> str:
        return f"{self.key}={self.value} ({self.trace_id})"


class Operation(models.Model):
    """Each (service, span name, kind) ever stored: the search form's choices, and the
    operations a name filter expands to, without scanning the span table."""

    service = models.CharField(max_length=100)
    name = models.CharField(max_length=300)
    kind = models.CharField(max_length=20)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["service", "name", "kind"], name="operation_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.service} {self.name} ({self.kind})"


class LogRecord(models.Model):
    """A log record emitted inside a span, so the viewer shows it with the span."""

    trace_id = models.CharField(max_length=32, db_index=True)
    span_id = models.CharField(max_length=16)
    time_ns = models.BigIntegerField()
    level = models.CharField(max_length=10)
    logger = models.CharField(max_length=200)
    message = models.TextField()
    attributes = models.JSONField(default=dict)
    service = models.CharField(max_length=100, blank=True, default="")

    class Meta:
        indexes = [models.Index(fields=["trace_id", "span_id"], name="log_trace_span")]

    def __str__(self) -> str:
        return f"{self.level} {self.logger}: {self.message[:60]}"


class AlertRule(models.Model):
    """A threshold on one service's server and consumer spans over a trailing window."""

    class Kind(models.TextChoices):
        ERROR_RATE = "error_rate", "error rate (0..1)"
        P95_MS = "p95_ms", "p95 latency (ms)"

    name = models.CharField(max_length=100, unique=True)
    service = models.CharField(max_length=100)
    operation = models.CharField(max_length=300, blank=True, default="", help_text="span name; blank = any")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    threshold = models.FloatField(help_text="fires when the value is above this")
    window_seconds = models.PositiveIntegerField(default=300)
    enabled = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(threshold__gte=0), name="alertrule_threshold_gte_0"),
            models.CheckConstraint(condition=models.Q(window_seconds__gt=0), name="alertrule_window_gt_0"),
        ]

    def __str__(self) -> str:
        return self.name


class AlertState(models.Model):
    """What the last evaluation of a rule found; ``since`` is when it started firing."""

    rule = models.OneToOneField(AlertRule, on_delete=models.CASCADE, related_name="state")
    firing = models.BooleanField(default=False)
    since = models.DateTimeField(null=True, blank=True)
    last_value = models.FloatField(null=True, blank=True)
    example_trace_ids = models.JSONField(default=list, blank=True)
    last_evaluated = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["firing"], name="alertstate_firing")]

    def __str__(self) -> str:
        return f"{self.rule} ({'firing' if self.firing else 'ok'})"


class SpanMetric(models.Model):
    """One narrow row per request and task run that ended (sampled or not), and per HTTP
    call or task publish (what a request's or a task's parent is): what the metrics page,
    the services graph and the alerts count, so their figures stay exact whatever sampling
    keeps. Written by ``telemetry.store.exporter.StoreMetricsExporter``; removed by age only
    (``telemetry.store.retention``), never with a trace that tail retention drops."""

    trace_id = models.CharField(max_length=32)
    span_id = models.CharField(max_length=16)
    parent_span_id = models.CharField(max_length=16, blank=True, default="")
    service = models.CharField(max_length=100)
    name = models.CharField(max_length=300)
    kind = models.CharField(max_length=20)
    start_time_ns = models.BigIntegerField()
    duration_ns = models.BigIntegerField()
    status = models.CharField(max_length=10)  # UNSET, OK or ERROR
    sampled = models.BooleanField()  # exported: its trace went to the store (unless tail-dropped)

    class Meta:
        constraints = [
            # The parent lookup of the services graph; a batch exported twice stores once.
            models.UniqueConstraint(fields=["trace_id", "span_id"], name="spanmetric_unique_in_trace"),
        ]
        indexes = [
            # Covers the window read, as span_kind_start_cover does for spans.
            models.Index(
                fields=[
                    *("kind", "start_time_ns", "service", "name"),
                    *("duration_ns", "status", "trace_id", "sampled"),
                ],
                name="spanmetric_kind_start_cover",
            ),
            models.Index(fields=["start_time_ns"], name="spanmetric_start"),  # pruning by age
        ]

    def __str__(self) -> str:
        return f"{self.service} {self.name} ({self.span_id})"


class FailureGroup(models.Model):
    """Failed and slow traces that share a root-cause signature (``telemetry.failures``):
    their diagnosis' verdict (the service at fault, the operation, the cause), the root
    cause's exception type and the injected fault if one is recorded."""

    class Kind(models.TextChoices):
        ERROR = "error", "failed"
        SLOW = "slow", "slow"

    signature = models.CharField(max_length=64, unique=True)  # sha256 of the fields below
    kind = models.CharField(max_length=5, choices=Kind.choices)
    service = models.CharField(max_length=100)
    operation = models.CharField(max_length=300)
    # The verdict's cause (telemetry.diagnosis.verdict); "" on groups filed before it was
    # part of the signature (their signatures differ, so no new trace joins them).
    cause = models.CharField(max_length=50, blank=True, default="")
    exception_type = models.CharField(max_length=200, blank=True, default="")
    fault = models.CharField(max_length=100, blank=True, default="")
    summary = models.TextField()  # the diagnosis sentence of the group's first trace
    first_seen_ns = models.BigIntegerField()  # the earliest member trace's start
    created_at = models.DateTimeField(auto_now_add=True)
    # When the admins were mailed about the new group: set once, by a conditional update.
    alerted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["alerted_at"], name="failuregroup_alerted")]

    def __str__(self) -> str:
        return f"{self.service} {self.operation} {self.cause or self.exception_type}".strip()


class TraceFailure(models.Model):
    """A failed or slow trace's group, computed once from its spans when it has settled and
    again only if spans arrive later (``stored_ns``), with what became of its order."""

    trace = models.OneToOneField(Trace, primary_key=True, on_delete=models.CASCADE, related_name="failure")
    group = models.ForeignKey(FailureGroup, on_delete=models.CASCADE, related_name="traces")
    start_ns = models.BigIntegerField()
    duration_ns = models.BigIntegerField()
    order_id = models.CharField(max_length=36, blank=True, default="")
    money = models.CharField(max_length=30, blank=True, default="")  # "refunded", "voided", "captured", …
    stock = models.CharField(max_length=30, blank=True, default="")  # "released", "committed", …
    summary = models.TextField()  # this trace's diagnosis sentence
    stored_ns = models.BigIntegerField()  # the trace's last_stored_ns when it was grouped

    class Meta:
        indexes = [
            # The page's window read, and a group's newest example.
            models.Index(fields=["start_ns", "group"], name="tracefailure_start"),
            models.Index(fields=["group", "start_ns"], name="tracefailure_group_start"),
            models.Index(fields=["order_id"], name="tracefailure_order"),
        ]

    def __str__(self) -> str:
        return f"{self.trace_id} in {self.group_id}"
