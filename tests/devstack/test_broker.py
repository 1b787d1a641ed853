"""The broker: a private Redis that crashes and comes back empty on its port, and the
Redis transport's handling of the stale file descriptor such a restart leaves behind (the
reason kombu is pinned at 5.7.0: before it, the worker died with ``KeyError(<fd>)``)."""

from __future__ import annotations

import redis
from kombu.transport import redis as kombu_redis
from kombu.utils.eventio import ERR

from devstack.broker import PrivateRedis, redis_answers


def test_a_crashed_private_redis_comes_back_empty_on_the_same_port():
    broker = PrivateRedis()
    try:
        redis.Redis.from_url(broker.url).rpush("threadline", b"a task")
        broker.crash()
        assert not redis_answers(broker.url)
        broker.start()
        assert redis_answers(broker.url)
        assert redis.Redis.from_url(broker.url).llen("threadline") == 0  # nothing kept
    finally:
        broker.stop()


def test_a_readable_fd_whose_channel_is_gone_is_ignored_not_a_key_error():
    """What the event loop does after a broker restart: an fd fires that no channel owns
    any more. kombu 5.5.4 raised KeyError there and the worker died (issue 14)."""
    poller = kombu_redis.MultiChannelPoller()
    assert poller.on_readable(35) is None
    assert poller.handle_event(35, ERR) is None


def test_a_key_error_that_escapes_the_transport_counts_as_a_lost_connection():
    """Anything the guard above misses is reconnected from, not fatal (kombu #2592)."""
    assert any(issubclass(KeyError, error) for error in kombu_redis.Transport.connection_errors)
