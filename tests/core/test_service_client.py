"""The REST plumbing under every client: an unreachable app is ServiceUnavailable, an
unknown error code is a plain ApplicationError that still carries the code and status;
a mounted transport adapter carries the calls under its URL prefix; calls ignore the
host's proxy and netrc settings."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from requests.adapters import BaseAdapter

from core.api import ApplicationError, ServiceUnavailable
from core.service_client import call, mount_transport
from inventory import client as inventory_client


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_an_unreachable_app_raises_service_unavailable(settings):
    """A connection refused becomes ServiceUnavailable, which callers may retry."""
    settings.INVENTORY_BASE_URL = closed_port_url()
    with pytest.raises(ServiceUnavailable) as unavailable:
        inventory_client.stock_list()
    assert unavailable.value.code == "service_unavailable"
    assert unavailable.value.status_code == 503


@pytest.mark.django_db(transaction=True, databases="__all__")
def test_an_answer_that_is_not_the_error_shape_is_an_application_error(services_url):
    """A 404 page that is not JSON raises ApplicationError with the status, not a crash."""
    with pytest.raises(ApplicationError) as refused:
        call("GET", f"{services_url}/no-such-page/")
    assert type(refused.value) is ApplicationError
    assert refused.value.extra == {"code": None, "status": 404}


@pytest.mark.django_db(transaction=True, databases="__all__")
def test_a_success_answer_is_the_json_body(services_url):
    """A 2xx answer is returned as its decoded JSON body."""
    assert call("GET", f"{services_url}/api/inventory/stock/") == []


def test_a_keep_alive_connection_the_server_drops_is_replaced_once():
    """A server that drops a kept-alive connection just as the next call goes out on it
    (gunicorn's keep-alive running out) does not turn that call into ServiceUnavailable:
    no answer came back, so it is sent again once, on a new connection."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class DropsTheSecondRequest(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        served = 0  # per connection: a handler instance lives as long as its connection

        def do_GET(self):
            self.served += 1
            if self.served > 1:
                self.close_connection = True  # closed without an answer
                return
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), DropsTheSecondRequest)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/ping"
    try:
        assert call("GET", url) == {}
        assert call("GET", url) == {}  # went out on the kept-alive connection, which was dropped
    finally:
        server.shutdown()


class AnswersItself(BaseAdapter):
    """A transport that answers every call with ``{"via": "adapter"}``, sending nothing."""

    def send(self, request, *args, **kwargs) -> requests.Response:
        response = requests.Response()
        response.status_code, response._content, response.url = 200, b'{"via": "adapter"}', request.url
        return response

    def close(self) -> None:
        pass


def test_a_mounted_transport_carries_the_calls_under_its_prefix():
    """A transport mounted at start-up carries calls to its prefix on each new session
    (here a new thread's), and core needs to know nothing about it."""
    mount_transport("http://mounted.invalid/", AnswersItself)
    answers: list[dict] = []
    thread = threading.Thread(target=lambda: answers.append(call("GET", "http://mounted.invalid/x")))
    thread.start()
    thread.join()
    assert answers == [{"via": "adapter"}]


class EchoesAuthorization(BaseHTTPRequestHandler):
    """Answers every GET with the Authorization header it received."""

    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = json.dumps({"authorization": self.headers.get("Authorization")}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def _call_from_a_new_thread(url: str) -> dict:
    """``call`` on a new thread, so on a new session (sessions are per thread)."""
    answers: list = []
    thread = threading.Thread(target=lambda: answers.append(call("GET", url)))
    thread.start()
    thread.join()
    assert answers, "the call raised (see the thread's traceback above)"
    return answers[0]


def test_calls_ignore_the_hosts_proxy_and_netrc(monkeypatch, tmp_path, settings):
    """A proxy in the environment does not take the apps' calls (it refuses here), and a
    ~/.netrc login for the app's host does not replace the service token."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), EchoesAuthorization)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password secret\n")
    netrc.chmod(0o600)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", closed_port_url())
    monkeypatch.setenv("NETRC", str(netrc))
    settings.SERVICE_TOKEN = "the-token"
    try:
        answer = _call_from_a_new_thread(f"http://127.0.0.1:{server.server_address[1]}/x")
    finally:
        server.shutdown()
    assert answer == {"authorization": "Bearer the-token"}
