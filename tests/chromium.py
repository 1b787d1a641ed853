"""Debian's Chromium for the browser tests (Playwright's own browser download is not used):
how it is launched, and where the screenshots people look at are saved."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Browser, Playwright, expect

EXECUTABLE = "/usr/bin/chromium"  # the Makefile installs it with apt-get when missing
OUTPUT = Path(__file__).resolve().parents[1] / "test-output"
# CI runs the browser tests beside the flow tests on two cores: a fetch and redraw that takes
# 50 ms on an idle machine has taken over Playwright's default 5 s there. Every wait, on an
# action (``page.set_default_timeout(WAIT_MS)``) or on an assertion (set here, for every
# ``expect`` in the run), is generous; a condition that never comes still fails.
WAIT_MS = 30_000
expect.set_options(timeout=WAIT_MS)
ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def launch(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(executable_path=EXECUTABLE, args=ARGS)
