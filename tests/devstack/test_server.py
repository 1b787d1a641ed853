"""The dev server (``manage.py runserver``, as ``make run`` starts it): responses are sent
without Nagle's delay, and a burst of connections is queued, not dropped."""

import selectors
import socket
import socketserver

import pytest
from django.core.management import get_commands, load_command_class
from django.core.servers.basehttp import WSGIRequestHandler

from devstack.server import DevServer

BURST = 40  # simultaneous checkouts the issue asks the dev server to take


@pytest.fixture
def server():
    """A DevServer as runserver builds it (threading mixed in), bound but not serving, so
    the test decides when connections are accepted."""
    server_class = type("WSGIServer", (socketserver.ThreadingMixIn, DevServer), {})
    server = server_class(("127.0.0.1", 0), WSGIRequestHandler)
    yield server
    server.server_close()


def test_runserver_is_served_by_devserver():
    """``manage.py runserver`` resolves to devstack's command (not staticfiles' or Django's),
    and that command serves with DevServer."""
    app = get_commands()["runserver"]
    assert app == "devstack"
    assert getattr(load_command_class(app, "runserver"), "server_cls", None) is DevServer


def test_accepted_connections_have_tcp_nodelay(server):
    """Each accepted socket has Nagle's algorithm off, so a response written in several
    send() calls is not held back waiting for the client's delayed ACK."""
    with socket.create_connection(server.server_address):
        accepted, _ = server.get_request()
        try:
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        finally:
            accepted.close()


def test_a_burst_of_connections_is_queued(server):
    """BURST clients connecting at once, before the server accepts any of them, all complete
    their handshake: the listen backlog holds them. With Django's backlog of 10 the kernel
    drops the SYNs of the rest, which then hang in retransmission."""
    clients: list[socket.socket] = []
    waiting = selectors.DefaultSelector()
    try:
        for _ in range(BURST):
            client = socket.socket()
            client.setblocking(False)
            client.connect_ex(server.server_address)
            clients.append(client)
            waiting.register(client, selectors.EVENT_WRITE, data=client)
        connected = 0
        # A generous bound only for how long a failure takes to show; passing never waits on it.
        while connected < BURST:
            ready = waiting.select(timeout=10)
            if not ready:
                break
            for key, _ in ready:
                client = key.data
                waiting.unregister(client)
                connected += client.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
        assert connected == BURST
    finally:
        waiting.close()
        for client in clients:
            client.close()
