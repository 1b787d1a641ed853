"""The Content-Security-Policy: on the storefront and the viewer, scripts from this site
only, and no page carries an inline script the policy would block."""

from __future__ import annotations

import re

import pytest

from config.csp import POLICY


@pytest.mark.django_db
def test_storefront_sends_the_policy(client):
    """The storefront's pages carry the policy, which allows no inline or foreign script."""
    response = client.get("/cart/")
    assert response.status_code == 200
    assert response.headers["Content-Security-Policy"] == POLICY
    script_src = re.search(r"script-src ([^;]*)", POLICY)
    assert script_src is not None and script_src.group(1) == "'self'"


@pytest.mark.django_db(databases="__all__")
def test_viewer_pages_send_the_policy_and_no_inline_script(admin_client):
    """The viewer's trace list carries the policy, and its script is a static file: no
    inline <script> the policy would block."""
    response = admin_client.get("/traces/")
    assert response.status_code == 200
    assert response.headers["Content-Security-Policy"] == POLICY
    html = response.content.decode()
    assert "<script>" not in html
    assert re.search(r'<script src="/static/telemetry/trace_list\.js"', html)
