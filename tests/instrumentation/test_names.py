"""The names the diagnosis recognises (instrumentation/names.py) exist in the running code:
each task is registered with Celery and each route is one the URLconf serves, as the
Django instrumentor records it. A rename that forgets the constant fails here."""

from __future__ import annotations

import re
import uuid

import pytest
from django.urls import resolve

from config.celery import app
from instrumentation import names

TASKS = [
    names.FINALIZE_ORDER_TASK,
    names.COMPENSATE_ORDER_TASK,
    names.SEND_ORDER_EMAIL_TASK,
    names.RECONCILE_TASK,
    names.PAYMENT_CANCEL_TASK,
    names.STOCK_RELEASE_TASK,
    names.UNDO_REPORTED_TASK,
    names.PAYMENT_CAPTURE_TASK,
    names.STOCK_COMMIT_TASK,
    names.STEP_REPORTED_TASK,
]
ROUTES = [
    names.ORDER_FAIL_ROUTE,
    names.PAYMENT_AUTHORIZE_ROUTE,
    names.PAYMENT_CAPTURE_ROUTE,
    names.PAYMENT_CANCEL_ROUTE,
    names.STOCK_RELEASE_ROUTE,
    names.STOCK_RESERVE_ROUTE,
    names.STOCK_COMMIT_ROUTE,
]


@pytest.mark.parametrize("task", TASKS)
def test_each_task_name_is_a_registered_celery_task(task):
    """The worker knows the task by this name (after autodiscovery, as a worker does)."""
    app.loader.import_default_modules()
    assert task in app.tasks


@pytest.mark.parametrize("route", ROUTES)
def test_each_route_is_the_http_route_of_a_url_the_shop_serves(route):
    """A URL of the route's shape resolves, and to this very pattern: the ``http.route``
    the server span is named after."""
    path = "/" + re.sub(r"<uuid:\w+>", str(uuid.uuid4()), route)
    assert resolve(path).route == route


def test_every_route_and_task_constant_is_checked():
    """A constant added to names.py without a check here would rot unseen."""
    declared = {value for key, value in vars(names).items() if key.endswith(("_ROUTE", "_TASK"))}
    assert declared == set(TASKS) | set(ROUTES)
