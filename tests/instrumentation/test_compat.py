"""The Django instrumentor's URL attribute with a path past Latin-1 (instrumentation.compat)."""

from __future__ import annotations

import pytest


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/orders/%E2%82%AC/", "/%F0%9F%93%85/"])
def test_a_path_past_latin1_is_answered_not_a_server_error(client, spans, path):
    """Django's runserver and test server pass the decoded path: the instrumentor used to
    raise UnicodeEncodeError (a 500) on it before any view ran."""
    response = client.get(path)

    assert response.status_code == 404
    [server] = [span for span in spans.get_finished_spans() if span.kind.name == "SERVER"]
    assert server.attributes["http.status_code"] == 404


def test_the_path_is_given_to_the_collector_as_the_server_sent_it():
    from instrumentation.compat import collect_with_latin1_path

    seen = {}
    collect = collect_with_latin1_path(lambda environ, *args: seen.update(environ))
    environ = {"PATH_INFO": "/€/"}
    collect(environ)

    assert seen["PATH_INFO"] == "/€/".encode().decode("latin-1")
    assert environ["PATH_INFO"] == "/€/"  # the request's own environ is untouched
