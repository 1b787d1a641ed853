"""Keeping ``make run``'s children alive: a child that exits unexpectedly (the worker, beat,
the private broker, the dev server) is started again after a growing wait, with a line on
the console saying so; one that keeps dying stops the whole stack, its last lines shown
again so the reason is on screen rather than scrolled away.

The launcher (``devstack.launcher``) builds the children; this module only watches them,
so its tests run it on small scripts of their own.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO

Say = Callable[[str], None]


@dataclass(frozen=True)
class Policy:
    """How hard to try. The wait doubles with each exit inside ``window`` seconds; more
    than ``max_restarts`` exits inside it means something is wrong that a restart will
    not fix (a port taken, a settings error, a crash at start)."""

    first_wait: float = 1.0
    max_wait: float = 30.0
    max_restarts: int = 5
    window: float = 120.0
    last_lines: int = 20
    poll: float = 0.5

    def wait_before(self, exits: int) -> float:
        return min(self.max_wait, self.first_wait * 2 ** max(0, exits - 1))


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


@dataclass
class Child:
    """One supervised process: ``spawn`` starts it (with its output on a pipe, or not)."""

    name: str
    spawn: Callable[[], subprocess.Popen]
    process: subprocess.Popen | None = None
    lines: deque[str] = field(default_factory=deque)
    exits: deque[float] = field(default_factory=deque)
    restart_at: float | None = None
    relay: threading.Thread | None = None

    def start(self, say: Say, keep: int) -> None:
        self.process = self.spawn()
        self.relay = None
        if self.process.stdout is not None:
            self.relay = threading.Thread(
                target=self._relay, args=(self.process.stdout, say, keep), daemon=True
            )
            self.relay.start()

    def drain(self, timeout: float = 2.0) -> None:
        """Let the relay reach the end of a dead child's output (its last words)."""
        if self.relay is not None:
            self.relay.join(timeout)

    def _relay(self, pipe: IO[str], say: Say, keep: int) -> None:
        for raw in pipe:
            line = raw.rstrip()
            self.lines.append(line)
            while len(self.lines) > keep:
                self.lines.popleft()
            say(f"{self.name:>6} | {line}")

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


class Supervisor:
    def __init__(self, children: list[Child], say: Say, policy: Policy | None = None) -> None:
        self.children = children
        self.say = say
        self.policy = policy or Policy()

    def start_all(self) -> None:
        for child in self.children:
            child.start(self.say, self.policy.last_lines)
            assert child.process is not None
            self.say(f"{child.name} started (pid {child.process.pid})")

    def run(
        self, on_tick: Callable[[], object] = lambda: None, until: Callable[[], bool] = lambda: False
    ) -> int:
        """Watch until ``until()`` holds (0) or a child keeps dying (1); ``on_tick`` runs
        every round (the launcher announces the URLs there once the server answers).
        Ctrl-C and SIGTERM reach the caller as KeyboardInterrupt."""
        while not until():
            for child in self.children:
                if not self.check(child):
                    return 1
            on_tick()
            time.sleep(self.policy.poll)
        return 0

    def check(self, child: Child) -> bool:
        """Restart ``child`` when it is due; False when it has died too often."""
        now = time.monotonic()
        if child.restart_at is not None:
            if now >= child.restart_at:
                child.restart_at = None
                try:
                    child.start(self.say, self.policy.last_lines)
                except (OSError, RuntimeError) as exc:  # e.g. the broker's port was taken
                    self.say(f"{child.name} could not be started again: {exc}")
                    return self._exited(child, now, str(exc))
                assert child.process is not None
                self.say(f"{child.name} restarted (pid {child.process.pid})")
            return True
        if child.process is None or child.process.poll() is None:
            return True
        return self._exited(child, now, describe_exit(child.process.returncode))

    def _exited(self, child: Child, now: float, how: str) -> bool:
        child.drain()
        child.exits.append(now)
        while child.exits and child.exits[0] < now - self.policy.window:
            child.exits.popleft()
        count = len(child.exits)
        if count > self.policy.max_restarts:
            self.say(
                f"{child.name} keeps dying ({how}; {count} exits within {self.policy.window:.0f}s): "
                f"stopping everything. Its last lines:"
            )
            for line in list(child.lines) or ["(no output)"]:
                self.say(f"{child.name:>6} ! {line}")
            return False
        wait = self.policy.wait_before(count)
        self.say(
            f"{child.name} exited unexpectedly ({how}); starting it again in {wait:g}s "
            f"(exit {count} of at most {self.policy.max_restarts} within {self.policy.window:.0f}s)"
        )
        child.restart_at = now + wait
        return True
