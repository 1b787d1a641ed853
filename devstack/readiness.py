"""Waiting for a web server a tool started (the flow tests' stacks, the benches, the dev
server's tests) until it answers, the same way everywhere: its product list, which needs
the database and the URL configuration, read every 0.2 s."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable

READY_PATH = "/api/shop/products/"


def answers(base_url: str, *, timeout: float, alive: Callable[[], bool] = lambda: True) -> bool:
    """Whether ``base_url`` answered ``READY_PATH`` with a 2xx within ``timeout`` seconds.
    Gives up early once ``alive()`` is false (the server process exited), or raises what
    ``alive`` raises; refused connections and slow first answers are waited out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive():
        try:
            urllib.request.urlopen(f"{base_url}{READY_PATH}", timeout=2).close()
            return True
        except (urllib.error.URLError, OSError):  # starting: refused, an error page, slow
            time.sleep(0.2)
    return False
