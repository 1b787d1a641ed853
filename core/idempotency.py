"""Idempotency-Key for any DRF API, with the semantics payment APIs use.

A request with an ``Idempotency-Key`` header runs once per key. The same key and body
replay the stored answer, refusals (4xx) included, with ``Idempotent-Replayed: true``;
the same key with another body is refused 422 ``idempotency_key_reused``; the same key
while its first request still runs is refused 409 ``idempotency_request_in_progress``.
A server-side failure (5xx, an exception) is not stored: the key stays retryable.

Each app owns its table: a concrete subclass of ``IdempotentRequestBase``, passed to
``@idempotent(Model)`` on the view's handler, and purged of old keys by its own periodic
task (``purge_expired``). No header, no idempotency. A view may pass its own ``key``
function: the one that validates the header its way and decides what is stored, e.g. the
key scoped to the customer, so that one customer's keys are not another's.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
from collections.abc import Callable
from datetime import timedelta
from typing import ClassVar, Self

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, models, router, transaction
from django.db.models import Q
from django.utils import timezone
from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.request import Request
from rest_framework.response import Response

from core.api import ApplicationError, InvalidRequest, exception_handler

HEADER = "Idempotency-Key"
KEY_MAX_LENGTH = 100  # what orders can store


class IdempotencyKeyReused(ApplicationError):
    code = "idempotency_key_reused"
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY


class IdempotencyRequestInProgress(ApplicationError):
    code = "idempotency_request_in_progress"
    status_code = status.HTTP_409_CONFLICT


class IdempotentRequestBase(models.Model):
    """One key: the request it was first used for and, once done, the answer it got."""

    class State(models.TextChoices):
        IN_PROGRESS = "in_progress"
        DONE = "done"

    key = models.CharField(max_length=KEY_MAX_LENGTH, unique=True)
    fingerprint = models.CharField(max_length=64)
    state = models.CharField(max_length=11, choices=State.choices, default=State.IN_PROGRESS)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    # JSON as text, not a JSONField: jsonb reorders keys, and a replay must be byte-identical.
    response_body = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    # Declared for the type checker only: Django gives each concrete subclass its default
    # manager, but django-stubs does not give one to an abstract model.
    objects: ClassVar[models.Manager[Self]]

    class Meta:
        abstract = True
        constraints = [
            models.CheckConstraint(
                condition=Q(state="in_progress") | Q(status_code__isnull=False),
                name="%(app_label)s_%(class)s_done_has_status",
            )
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.state} {self.status_code or ''})".strip()


Table = type[IdempotentRequestBase]


def purge_expired(model: Table) -> int:
    """Forget keys first used more than ``IDEMPOTENCY_KEY_TTL`` seconds ago (payment APIs
    keep theirs a day); a retry after that runs as a new request. Returns how many went.
    Each app that owns a table runs this from a periodic task."""
    cutoff = timezone.now() - timedelta(seconds=settings.IDEMPOTENCY_KEY_TTL)
    deleted, _ = model.objects.filter(created_at__lt=cutoff).delete()
    return deleted


KeyFunction = Callable[[Request], str | None]


def header_key(request: Request) -> str | None:
    """The key as sent in the header, stored as it is; None (no idempotency) without one."""
    key = request.headers.get(HEADER)
    if not key:
        return None
    if len(key) > KEY_MAX_LENGTH:
        raise InvalidRequest(
            f"Invalid request: the {HEADER} header is longer than {KEY_MAX_LENGTH} characters."
        )
    return key


def idempotent(model: Table, *, key: KeyFunction = header_key) -> Callable:
    """Decorate an APIView handler (``post``) so that a keyed request runs once per key.
    ``key(request)`` gives the key to store (at most KEY_MAX_LENGTH characters), None for
    no idempotency, or raises the refusal of a bad header."""

    def decorate(handler: Callable) -> Callable:
        @functools.wraps(handler)
        def wrapper(view, request: Request, *args, **kwargs) -> Response:
            return replay_or_run(model, request, lambda: handler(view, request, *args, **kwargs), key=key)

        return wrapper

    return decorate


def replay_or_run(
    model: Table, request: Request, run: Callable[[], Response], *, key: KeyFunction = header_key
) -> Response:
    """Run ``run`` once for the request's Idempotency-Key; replay or refuse a repeat."""
    stored = key(request)
    if stored is None:
        return run()
    fingerprint = request_fingerprint(request.method or "", request.path, request.data)
    claimed = _claim(model, stored, fingerprint)
    if claimed is None:
        return _answer_held(model.objects.filter(key=stored).first(), fingerprint)
    return _run_once(claimed, run)


def request_fingerprint(method: str, path: str, data: object) -> str:
    """sha256 of the method, the path and the body as canonical JSON."""
    body = json.dumps(data, sort_keys=True, separators=(",", ":"), cls=DjangoJSONEncoder)
    return hashlib.sha256(f"{method} {path} {body}".encode()).hexdigest()


def _claim(model: Table, key: str, fingerprint: str) -> IdempotentRequestBase | None:
    """The key's in_progress row, now ours; None if another request holds the key."""
    row = _insert(model, key, fingerprint)
    if row is None and _drop_abandoned(model, key, fingerprint):
        row = _insert(model, key, fingerprint)
    return row


def _insert(model: Table, key: str, fingerprint: str) -> IdempotentRequestBase | None:
    # Committed at once: the unique key decides a race, and the row is visible to every
    # other request before the work starts. A request runs in autocommit, where the INSERT
    # is its own transaction: wrapping it in atomic() only added a BEGIN and a COMMIT (two
    # more statements, and round trips, per keyed call). Inside a caller's transaction a
    # savepoint keeps that transaction usable after a duplicate key.
    in_transaction = transaction.get_connection(router.db_for_write(model)).in_atomic_block
    try:
        with transaction.atomic() if in_transaction else contextlib.nullcontext():
            return model.objects.create(key=key, fingerprint=fingerprint)
    except IntegrityError:
        return None


def _drop_abandoned(model: Table, key: str, fingerprint: str) -> bool:
    """Delete the key's row if its request has run past IDEMPOTENCY_LOCK_SECONDS (its
    process died); only for the same body, another body stays refused."""
    cutoff = timezone.now() - timedelta(seconds=settings.IDEMPOTENCY_LOCK_SECONDS)
    stale = model.objects.filter(
        key=key, fingerprint=fingerprint, state=model.State.IN_PROGRESS, created_at__lt=cutoff
    )
    deleted, _ = stale.delete()
    return bool(deleted)


def _answer_held(row: IdempotentRequestBase | None, fingerprint: str) -> Response:
    if row is not None and row.fingerprint != fingerprint:
        raise IdempotencyKeyReused(f"This {HEADER} was used for a different request; use a new key.")
    if row is None or row.state == row.State.IN_PROGRESS:  # None: released a moment ago
        raise IdempotencyRequestInProgress(f"A request with this {HEADER} is still running; retry later.")
    body = json.loads(row.response_body)
    return Response(body, status=row.status_code, headers={"Idempotent-Replayed": "true"})


def _run_once(row: IdempotentRequestBase, run: Callable[[], Response]) -> Response:
    """Run the view; store its answer, or release the key after a server-side failure."""
    rows = type(row).objects.filter(pk=row.pk)  # by pk: a takeover may have replaced it
    try:
        response = _response(run)
    except BaseException:
        rows.delete()
        raise
    if response.status_code >= 500 or response.status_code == 404:
        # Not an answer to keep: a server failure, or a thing that may exist on retry
        # (a cancel that arrived before its authorisation). The key can be used again.
        rows.delete()
    else:
        rows.update(
            state=row.State.DONE,
            status_code=response.status_code,
            response_body=json.dumps(response.data, cls=DjangoJSONEncoder),
        )
    return response


def _response(run: Callable[[], Response]) -> Response:
    try:
        return run()
    except (ApplicationError, APIException) as error:  # a refusal is an answer: stored too
        response = exception_handler(error, {})
        assert response is not None  # the handler answers every ApplicationError and APIException
        return response
