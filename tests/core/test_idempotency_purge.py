"""Old Idempotency-Keys are forgotten (core.idempotency.purge_expired), by each app's
periodic task for its own table."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from payments.models import IdempotentRequest as PaymentsKey
from payments.tasks import purge_idempotency_keys as purge_payments
from shop.models import IdempotentRequest as ShopKey
from shop.tasks import purge_idempotency_keys as purge_shop

pytestmark = pytest.mark.django_db


def key(model, name: str, *, hours_ago: float):
    row = model.objects.create(key=name, fingerprint="f", state="done", status_code=202, response_body="{}")
    model.objects.filter(pk=row.pk).update(created_at=timezone.now() - timedelta(hours=hours_ago))
    return row


@pytest.mark.parametrize(("model", "purge"), [(ShopKey, purge_shop), (PaymentsKey, purge_payments)])
def test_keys_older_than_the_ttl_are_forgotten_and_the_rest_kept(model, purge, settings):
    settings.IDEMPOTENCY_KEY_TTL = 24 * 3600
    key(model, "old", hours_ago=25)
    key(model, "recent", hours_ago=23)
    assert purge() == 1
    assert list(model.objects.values_list("key", flat=True)) == ["recent"]


def test_beat_purges_each_apps_keys():
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {"shop.purge_idempotency_keys", "payments.purge_idempotency_keys"} <= tasks
