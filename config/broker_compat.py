"""A workaround for a crash of kombu's Redis transport (kombu 5.7.0, the latest release) when
the broker goes away while a worker holds unacknowledged messages.

After a lost connection, Celery's consumer closes it (``on_connection_error_after_connected``
calls ``connection.close`` under ``ignore_errors``, which passes over connection errors only).
Closing the channel gives the unacknowledged messages back, which takes a Redis client built
from the transport's connection settings; when the transport has already been detached from
its connection (``transport.client`` is None), ``Channel._connparams`` raises
``AttributeError: 'NoneType' object has no attribute 'hostname'``. That is no connection
error: the worker logs "Unrecoverable error" and exits, and nothing consumes any queue until a
supervisor starts it again. The flow tests saw it after a broker restart, and so would a
deployment on every Redis failover that catches a task in hand.

The patch makes that state a connection error, which every close path already passes over.
Nothing is lost: the messages stay in the transport's unacked index in Redis, which kombu
gives back after the visibility timeout (``CELERY_VISIBILITY_TIMEOUT``), as for a worker that
died; with a broker that restarted empty they went with it, and the outbox and reconcile
recover them (README, "Reliability").
"""

from __future__ import annotations

from typing import Any

from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError

_PATCHED = "_threadline_detached_is_a_connection_error"


def install() -> None:
    """Patch ``kombu.transport.redis.Channel._connparams`` once per process."""
    channel = kombu_redis.Channel
    if getattr(channel, _PATCHED, False):
        return
    connparams = channel._connparams

    def _connparams(self: Any, *args: Any, **kwargs: Any) -> Any:
        if self.connection is None or self.connection.client is None:
            raise RedisConnectionError("the broker connection is closed (its transport has no connection)")
        return connparams(self, *args, **kwargs)

    channel._connparams = _connparams  # type: ignore[method-assign]
    setattr(channel, _PATCHED, True)
