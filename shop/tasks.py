"""Shop's periodic task: forget old Idempotency-Keys (``core.idempotency``)."""

from __future__ import annotations

from celery import shared_task

from core.idempotency import purge_expired
from shop.models import IdempotentRequest


@shared_task(name="shop.purge_idempotency_keys")
def purge_idempotency_keys() -> int:
    """Delete the keys older than ``IDEMPOTENCY_KEY_TTL``; returns how many."""
    return purge_expired(IdempotentRequest)
