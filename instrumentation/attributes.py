"""Span attribute names used across the apps, kept in one module so they stay consistent."""

SERVICE = "threadline.service"
ORDER_ID = "order.id"
ORDER_TOTAL_CENTS = "order.total_cents"
ORDER_LINE_COUNT = "order.line_count"
ORDER_ITEM_COUNT = "order.item_count"
PAYMENT_AMOUNT_CENTS = "payment.amount_cents"
FAULT_NAME = "fault.name"
TASK_ATTEMPT = "celery.attempt"

# Sampling: why a root span's trace was kept and at what probability (counts scale back by it).
SAMPLING_RULE = "sampling.rule"
SAMPLING_PROBABILITY = "sampling.probability"
# The customer's tier, carried as W3C baggage with the order id through every hop.
CUSTOMER_TIER = "customer.tier"
