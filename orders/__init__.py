"""Orders: the order, its lines and event history, the outbox and the Celery tasks that
finalise or compensate it."""
