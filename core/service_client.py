"""The HTTP plumbing under every app's ``client.py``: one shared session, explicit
timeouts, the service token, and error codes mapped back to the callee's classes (and to
the shared Idempotency-Key refusals of config/idempotency.py). Other apps may mount
transport adapters on that session (``mount_transport``) without core knowing them."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import requests
from django.conf import settings
from requests.adapters import BaseAdapter
from urllib3.exceptions import ProtocolError

from core.api import ApplicationError, ServiceUnavailable
from core.idempotency import IdempotencyKeyReused, IdempotencyRequestInProgress

_local = threading.local()
# Adapter factories by URL prefix, mounted on every new session: a factory, not an
# adapter, because an adapter holds connection pools and sessions are per thread.
_transports: dict[str, Callable[[], BaseAdapter]] = {}


def mount_transport(prefix: str, factory: Callable[[], BaseAdapter]) -> None:
    """Send calls whose URL starts with ``prefix`` through ``factory()``'s adapter, on
    every session made from now on (call it at start-up: an AppConfig's ``ready()``)."""
    _transports[prefix] = factory


def _session() -> requests.Session:
    # One session per thread: requests.Session is not documented as thread-safe.
    session = getattr(_local, "session", None)
    if session is None:
        session = _local.session = requests.Session()
        # Calls go straight to the apps' base URLs with the service token. A session that
        # trusts the environment would send them through any HTTP_PROXY set on the host,
        # swap the token for a ~/.netrc login of the same host, and look both up again on
        # every call (a fifth of the client's CPU per call, measured on loopback).
        session.trust_env = False
        for prefix, factory in _transports.items():
            session.mount(prefix, factory())
    return session


def _send(method: str, url: str, **kwargs) -> requests.Response:
    """One request; sent again once if the pooled keep-alive connection it went out on had
    been closed by the server while idle (no answer came back, so nothing was done)."""
    try:
        return _session().request(method, url, **kwargs)
    except requests.ConnectionError as exc:
        if not (exc.args and isinstance(exc.args[0], ProtocolError)):
            raise  # refused, unreachable: not a stale connection
        return _session().request(method, url, **kwargs)


def call(
    method: str,
    url: str,
    *,
    json: dict | None = None,
    params: dict | None = None,
    errors: tuple[type[ApplicationError], ...] = (),
    idempotency_key: str | None = None,
) -> Any:
    """Make one REST call to another app and return its decoded JSON body: an object
    (``{}`` for an empty body) or, from a list endpoint, an array. ``Any``, as from
    ``json.loads``: each client knows its endpoint's shape and reads it as such.

    A 4xx/409/402 with a known code raises that code's class; an unreachable app, a 5xx
    or the same keyed call still running on the other side raises ``ServiceUnavailable``.
    """
    headers = {"Authorization": f"Bearer {settings.SERVICE_TOKEN}"}
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    try:
        response = _send(
            method, url, json=json, params=params, headers=headers, timeout=settings.SERVICE_TIMEOUT
        )
    except requests.RequestException as exc:
        raise ServiceUnavailable(f"{method} {url} failed: {exc}") from exc
    if response.status_code < 400:
        return response.json() if response.content else {}
    try:
        body = response.json()
    except ValueError:
        body = {}
    known: tuple[type[ApplicationError], ...] = (IdempotencyKeyReused, *errors)
    by_code = {error.code: error for error in known}
    error_class = by_code.get(body.get("code"))
    if error_class is not None:
        raise error_class(body.get("message", ""), extra=body.get("extra") or {})
    # The first call with this key still runs: as retryable as a 5xx, and not a refusal.
    if response.status_code >= 500 or body.get("code") == IdempotencyRequestInProgress.code:
        raise ServiceUnavailable(f"{method} {url} answered {response.status_code}")
    raise ApplicationError(
        f"{method} {url} answered {response.status_code}: {body.get('message', response.text[:200])}",
        extra={"code": body.get("code"), "status": response.status_code},
    )
