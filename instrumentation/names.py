"""Span names, Celery task names and routes that the diagnosis recognises in a trace, and
the task names the outbox and beat enqueue by name.

Declared once, imported where they are written (the task decorators, the spans the domain
code opens) and where they are read (``telemetry.diagnosis``): a name written twice drifts,
and a rename would then quietly stop the diagnosis from seeing a compensation or a refund.
``tests/instrumentation/test_names.py`` checks each task is registered and each route is
in the URLconf, so a rename breaks a test instead.

Routes are as the Django instrumentor records them (``http.route``, the URL pattern from
the root URLconf down); a server span is named ``<METHOD> <route>``, a task's run span
``run/<task>``.
"""

# Celery task names (``@shared_task(name=...)``).
FINALIZE_ORDER_TASK = "orders.finalize_order"
COMPENSATE_ORDER_TASK = "orders.compensate_order"
SEND_ORDER_EMAIL_TASK = "orders.send_order_email"
RECONCILE_TASK = "orders.reconcile"
# The compensation's undo steps, each run by its owner's worker from its owner's queue, and
# the orders task each of them reports back to (the order fails once both have reported).
PAYMENT_CANCEL_TASK = "payments.cancel_payment"
STOCK_RELEASE_TASK = "inventory.release_reservation"
UNDO_REPORTED_TASK = "orders.record_undo"
# The confirmation's steps, asked for by orders' finalize after the confirmation is written,
# each run by its owner's worker and reported back to orders (confirmed once both are done).
PAYMENT_CAPTURE_TASK = "payments.capture_payment"
STOCK_COMMIT_TASK = "inventory.commit_reservation"
STEP_REPORTED_TASK = "orders.record_step"

# Spans the domain code opens itself.
RECONCILE_ORDER_SPAN = "orders.reconcile order"
CHECKOUT_THROTTLE_SPAN = "checkout throttle"  # shop/throttling.py: the rate limit's cache reads
GATEWAY_SPAN_PREFIX = "gateway "  # ``gateway authorize``: the card gateway call (payments/gateway.py)


# Routes (``http.route``).
ORDER_FAIL_ROUTE = "api/orders/<uuid:order_id>/fail/"
PAYMENT_AUTHORIZE_ROUTE = "api/payments/authorizations/"
PAYMENT_CAPTURE_ROUTE = "api/payments/payments/<uuid:order_id>/capture/"
PAYMENT_CANCEL_ROUTE = "api/payments/payments/<uuid:order_id>/cancel/"
STOCK_RELEASE_ROUTE = "api/inventory/reservations/<uuid:order_id>/release/"
# Read by the failure groups (telemetry/failures.py) for what became of an order's stock;
# the capture and commit routes also from traces stored before those steps became tasks.
STOCK_RESERVE_ROUTE = "api/inventory/reservations/"
STOCK_COMMIT_ROUTE = "api/inventory/reservations/<uuid:order_id>/commit/"

RUN_PREFIX = "run/"  # the Celery instrumentor's name for a task's run: ``run/<task>``


def run_span(task: str) -> str:
    """The name of the span of one run of ``task``."""
    return RUN_PREFIX + task


def server_span(method: str, route: str) -> str:
    """The name of the server span of a request to ``route``."""
    return f"{method} {route}"


def gateway_span(operation: str) -> str:
    """The name of the span of one card gateway call."""
    return GATEWAY_SPAN_PREFIX + operation
