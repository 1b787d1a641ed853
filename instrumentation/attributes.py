"""Span attribute names used across the apps, kept in one module so they stay consistent."""

SERVICE = "threadline.service"
ORDER_ID = "order.id"
ORDER_TOTAL_CENTS = "order.total_cents"
ORDER_LINE_COUNT = "order.line_count"
ORDER_ITEM_COUNT = "order.item_count"
PAYMENT_AMOUNT_CENTS = "payment.amount_cents"
FAULT_NAME = "fault.name"
TASK_ATTEMPT = "celery.attempt"
# On an undo step's run and on the orders run its report lands in: which step, what it left
# ("voided", "released", ...), and the order's status after the report (``failed`` on the run
# that ended the order: the diagnosis's "order failed").
UNDO_STEP = "order.undo.step"
UNDO_OUTCOME = "order.undo.outcome"
ORDER_STATUS = "order.status"
ORDER_PUSHES = "order.reconcile_pushes"  # the how-many-th push reconcile gives a waiting order
# On a confirmation step's run (capture, commit) and on the orders run its report lands in:
# which step, and "done" or "failed" (failed for good: the order is compensated).
STEP = "order.step"
STEP_OUTCOME = "order.step.outcome"
# On a span whose code handled a failure below it by design: what it did instead (the
# checkout throttle lets a checkout through when the cache does not answer). The diagnosis
# looks past the errors under such a span for the one that changed the order's course.
TOLERATED = "threadline.tolerated"
# On a server span and a task run's span: the CPU its thread spent, in ms
# (instrumentation/cpu.py); beside the duration, it tells work from waiting.
CPU_MS = "threadline.cpu_ms"

# Sampling: why a root span's trace was kept and at what probability (counts scale back by it).
SAMPLING_RULE = "sampling.rule"
SAMPLING_PROBABILITY = "sampling.probability"
# The customer's tier, carried as W3C baggage with the order id through every hop.
CUSTOMER_TIER = "customer.tier"
# Statements folded into the span they ran under (instrumentation/statements.py): how many,
# how long in all, the one repeated most (an N+1 pattern shows here) and the tables written.
DB_SUMMARY_COUNT = "db.summary.count"
DB_SUMMARY_DURATION_MS = "db.summary.duration_ms"
DB_SUMMARY_TOP_STATEMENT = "db.summary.top_statement"
DB_SUMMARY_TOP_COUNT = "db.summary.top_count"
DB_SUMMARY_WRITES = "db.summary.writes"  # ("UPDATE orders_order", "INSERT orders_orderevent ×2")
# The card gateway call (payments/gateway.py): which gateway, which operation, how it
# answered, its transaction id and how long it took, on a span of its own.
GATEWAY_NAME = "payment.gateway.name"
GATEWAY_OPERATION = "payment.gateway.operation"
GATEWAY_OUTCOME = "payment.gateway.outcome"
GATEWAY_TRANSACTION_ID = "payment.gateway.transaction_id"
GATEWAY_LATENCY_MS = "payment.gateway.latency_ms"
