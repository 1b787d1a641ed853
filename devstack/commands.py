"""Management commands for the tools that drive a stack, run in one long-lived Django process.

The flow tests and the failure catalogue run a few hundred short commands against a stack
(``faults set``, ``trace --order … --json`` polled until a trace is whole, ``decide_traces``).
As ``manage.py`` processes each paid Django's start-up, about 1.5 s of CPU: more than half of
the flow tests' time went to starting Python. ``CommandRunner`` starts this module once, with
the stack's environment, and sends it one command per line::

    python -m devstack.commands        # stdin: ["faults", "reset"]   stdout: {"code": 0, ...}

Each command runs through ``call_command`` with its output captured, and the process then
closes its database connections, so every command sees the databases as a fresh
``manage.py`` would. Unlike ``manage.py``, this process sets up no tracing: the commands it
serves are the tools' reads and switches, not work whose spans anyone looks for.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import select
import subprocess
import sys
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Outcome:
    """What a command did: its exit code and what it printed."""

    code: int
    stdout: str
    stderr: str


class CommandRunner:
    """A ``python -m devstack.commands`` process with ``env``; ``run`` sends it a command.

    A command that takes longer than its timeout kills the process (the next ``run`` starts
    another), as ``subprocess.run(timeout=…)`` would have killed a ``manage.py``; the
    process's own log lines go to ``log``."""

    def __init__(self, env: Mapping[str, str], log: Path, cwd: Path = ROOT) -> None:
        self.env, self.log, self.cwd = dict(env), log, cwd
        self.process: subprocess.Popen[str] | None = None

    def run(self, *args: str, timeout: float = 60) -> Outcome:
        process = self.process or self._start()
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(json.dumps(list(args)) + "\n")
        process.stdin.flush()
        ready, _, _ = select.select([process.stdout], [], [], timeout)
        if not ready:
            self.close()
            raise subprocess.TimeoutExpired(["manage.py", *args], timeout)
        line = process.stdout.readline()
        if not line:
            self.close()
            raise RuntimeError(f"the command process ended during manage.py {' '.join(args)}; see {self.log}")
        answer = json.loads(line)
        return Outcome(answer["code"], answer["stdout"], answer["stderr"])

    def close(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def _start(self) -> subprocess.Popen[str]:
        with open(self.log, "a") as log:  # log lines; a command's own stderr comes back in its answer
            self.process = subprocess.Popen(
                [sys.executable, "-m", "devstack.commands"],
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
        return self.process


def serve() -> None:
    """Run each command read from standard input; answer each on standard output."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django
    from django.core.management import CommandError, call_command
    from django.db import connections

    django.setup()
    answers, sys.stdout = sys.stdout, sys.stderr  # a stray print() cannot break an answer
    for line in sys.stdin:
        args = json.loads(line)
        out, err, code = io.StringIO(), io.StringIO(), 0
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                call_command(*args, stdout=out, stderr=err)
        except CommandError as exc:
            err.write(f"CommandError: {exc}\n")
            code = exc.returncode
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except Exception:
            err.write(traceback.format_exc())
            code = 1
        finally:
            connections.close_all()
        answers.write(json.dumps({"code": code, "stdout": out.getvalue(), "stderr": err.getvalue()}) + "\n")
        answers.flush()


if __name__ == "__main__":
    serve()
