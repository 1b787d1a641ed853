"""config/broker_compat.py: a channel closed after its transport lost its connection, with a
message in hand, raises a connection error (which the worker's close passes over), not the
AttributeError that made kombu 5.7.0's worker exit with "Unrecoverable error"."""

from __future__ import annotations

import pytest
from kombu.connection import Connection
from kombu.entity import Exchange, Queue
from kombu.messaging import Consumer, Producer

import config  # noqa: F401  (the Celery app, which installs the patch, as every process loads it)
from devstack.broker import PrivateRedis


@pytest.fixture
def broker():
    redis = PrivateRedis()
    yield redis
    redis.stop()


def test_a_channel_closed_after_its_transport_was_detached_closes_quietly(broker):
    connection = Connection(broker.url)
    channel = connection.channel()
    queue = Queue("compat", Exchange("compat"), "compat")
    Producer(channel).publish({"n": 1}, exchange=queue.exchange, routing_key="compat", declare=[queue])
    held = []
    consumer = Consumer(channel, [queue], callbacks=[lambda _, msg: held.append(msg)], accept=["json"])
    consumer.consume()
    connection.drain_events(timeout=5)
    assert len(held) == 1  # unacknowledged: closing the channel will try to give it back

    connection.transport.client = None  # the state the consumer's close met after the broker went
    connection.maybe_close_channel(channel)  # raised AttributeError('... no attribute hostname')
    assert channel.closed
