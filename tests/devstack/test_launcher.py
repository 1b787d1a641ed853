"""``python -m devstack`` (what ``make run PORT=…`` runs) as a process: its queue is its own,
a worker or a private broker that is killed comes back and the stack goes on taking
orders, and SIGTERM stops every child."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from devstack.broker import free_port
from devstack.launcher import queue_name
from tests.devstack.test_supervisor import alive

ROOT = Path(__file__).resolve().parents[2]


def test_the_queue_is_named_after_the_port_and_the_directory(monkeypatch, tmp_path):
    monkeypatch.delenv("CELERY_TASK_DEFAULT_QUEUE", raising=False)
    here = queue_name(8000, ROOT)
    assert re.fullmatch(r"threadline-8000-[0-9a-f]{8}", here)
    assert queue_name(8001, ROOT) != here
    assert queue_name(8000, tmp_path) != here
    assert queue_name(8000, ROOT) == here  # stable: the same copy restarted keeps its queue
    monkeypatch.setenv("CELERY_TASK_DEFAULT_QUEUE", "chosen")
    assert queue_name(8000, ROOT) == "chosen"


class Console:
    """The launcher's output, read as it comes."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.lines: list[str] = []
        assert process.stdout is not None
        threading.Thread(target=self._read, args=(process.stdout,), daemon=True).start()

    def _read(self, pipe) -> None:
        for line in pipe:
            self.lines.append(line.rstrip())

    def wait_for(self, pattern: str, after: int = 0, timeout: float = 180) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.lines[after:]:
                match = re.search(pattern, line)
                if match:
                    return match
            time.sleep(0.1)
        raise AssertionError(
            f"no line matching {pattern!r} within {timeout:.0f}s:\n" + "\n".join(self.lines[-60:])
        )


@pytest.mark.flow
def test_make_run_restarts_a_killed_worker_and_broker_and_sigterm_stops_everything(tmp_path):
    port, broker_port = free_port(), free_port()
    env = {
        **os.environ,
        "THREADLINE_VAR_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'shop.sqlite3'}",
        "TELEMETRY_DATABASE_URL": f"sqlite:///{tmp_path / 'traces.sqlite3'}",
        # Nothing answers there: the launcher starts its private Redis on that port.
        "CELERY_BROKER_URL": f"redis://127.0.0.1:{broker_port}/0",
        "CACHE_URL": "",
        "ORDERS_RECONCILE_INTERVAL": "1",
        "ORDERS_STUCK_AFTER": "8",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("CELERY_TASK_DEFAULT_QUEUE", None)
    env.pop("DJANGO_DEBUG", None)
    launcher = subprocess.Popen(
        [sys.executable, "-m", "devstack", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    console = Console(launcher)
    try:
        console.wait_for(rf"queue: threadline-{port}-[0-9a-f]{{8}} ")
        pids = {
            name: int(console.wait_for(rf"^{name} started \(pid (\d+)\)").group(1))
            for name in ("redis", "worker")
        }
        console.wait_for(r"Threadline is running")
        console.wait_for(r"worker \| .*ready\.")

        mark = len(console.lines)
        os.killpg(pids["worker"], signal.SIGKILL)  # the worker and its pool, no shutdown
        console.wait_for(r"worker exited unexpectedly \(killed by SIGKILL\); starting it again in 1s", mark)
        new_worker = int(console.wait_for(r"worker restarted \(pid (\d+)\)", mark).group(1))

        mark = len(console.lines)
        os.kill(pids["redis"], signal.SIGKILL)
        console.wait_for(r"redis exited unexpectedly \(killed by SIGKILL\)", mark)
        new_redis = int(console.wait_for(r"redis restarted \(pid (\d+)\)", mark).group(1))

        # The stack goes on: a checkout after both crashes is confirmed by the new worker.
        body = {
            "items": [{"sku": "MOUSE-WIRELESS", "quantity": 1}],
            "email": "launcher@example.com",
            "payment": {"method": "card", "token": "tok_ok"},
        }
        placed = requests.post(f"http://127.0.0.1:{port}/api/shop/checkout/", json=body, timeout=60)
        assert placed.status_code == 202, placed.text
        url = f"http://127.0.0.1:{port}/api/shop/orders/{placed.json()['order_id']}/"
        deadline = time.monotonic() + 120
        while (status := requests.get(url, timeout=30).json()["status"]) not in {"confirmed", "failed"}:
            assert time.monotonic() < deadline, f"order still {status}"
            time.sleep(0.5)
        assert status == "confirmed"
        assert alive(new_worker) and alive(new_redis)

        launcher.send_signal(signal.SIGTERM)
        assert launcher.wait(timeout=60) == 0
        console.wait_for(r"^stopped$", timeout=10)
        assert not alive(new_worker) and not alive(new_redis)
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait()
    text = "\n".join(console.lines)
    assert "Unrecoverable error" not in text and "keeps dying" not in text
