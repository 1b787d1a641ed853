"""The dev server's socket server: Django's runserver ``WSGIServer`` with the two settings
a shop making REST calls to itself needs.

- ``TCP_NODELAY`` on every accepted connection. Django's handler writes a response in
  several ``send()`` calls (status line and headers, then the body); with Nagle's algorithm
  on, the kernel holds the later ones until the client acknowledges the first, and the
  client delays that acknowledgement (40 ms on Linux). Every internal hop paid that wait.
- A listen backlog of ``LISTEN_BACKLOG`` instead of Django's 10, so a burst of simultaneous
  checkouts waits in the kernel's queue instead of having its connections dropped.

Each connection is served by a thread of its own, and keeps its database connections
between its requests (``CONN_MAX_AGE``); they are closed when the client hangs up, as the
thread ends, instead of lingering until garbage collection.
"""

from __future__ import annotations

import socket

from django.core.servers.basehttp import WSGIServer
from django.db import connections

# Connections the kernel queues for accept(); Linux caps it at net.core.somaxconn.
LISTEN_BACKLOG = 128


class DevServer(WSGIServer):
    request_queue_size = LISTEN_BACKLOG

    def get_request(self) -> tuple[socket.socket, object]:
        connection, address = super().get_request()
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connection, address

    def close_request(self, request: socket.socket | tuple[bytes, socket.socket]) -> None:
        # Called in the connection's own thread (runserver mixes ThreadingMixIn in), so
        # this closes that thread's database connections only.
        connections.close_all()
        super().close_request(request)
