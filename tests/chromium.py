"""Debian's Chromium for the browser tests (Playwright's own browser download is not used):
how it is launched, and where the screenshots people look at are saved."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Browser, Playwright

EXECUTABLE = "/usr/bin/chromium"  # the Makefile installs it with apt-get when missing
OUTPUT = Path(__file__).resolve().parents[1] / "test-output"
ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def launch(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(executable_path=EXECUTABLE, args=ARGS)
