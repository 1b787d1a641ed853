"""devstack/readiness.py: a started server is waited for until it answers its product list,
and given up on at once when its process is gone."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from devstack import readiness
from devstack.broker import free_port


class _Answers(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
        self.send_response(200 if self.path == readiness.READY_PATH else 404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Answers)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()


def test_a_server_that_answers_is_ready(server):
    assert readiness.answers(server, timeout=5)


def test_nothing_listening_is_not_ready_and_a_dead_process_ends_the_wait_at_once():
    url = f"http://127.0.0.1:{free_port()}"
    assert not readiness.answers(url, timeout=0.5)
    started = time.monotonic()
    assert not readiness.answers(url, timeout=30, alive=lambda: False)
    assert time.monotonic() - started < 1
