"""The supervisor on real child processes (small Python scripts): a child that dies is
started again with a console line, one that keeps dying stops the run with its last lines,
and SIGINT or SIGTERM to a supervising process stops every child."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from devstack.supervisor import Child, Policy, Supervisor, describe_exit

ROOT = Path(__file__).resolve().parents[2]
FAST = Policy(first_wait=0.1, max_wait=0.4, max_restarts=3, window=60, poll=0.05)


def python(code: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_until(condition, timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_the_policy_doubles_the_wait_up_to_its_cap():
    policy = Policy(first_wait=1, max_wait=5)
    assert [policy.wait_before(n) for n in (1, 2, 3, 4)] == [1, 2, 4, 5]


def test_an_exit_is_described_by_its_code_or_its_signal():
    assert describe_exit(3) == "exit code 3"
    assert describe_exit(-signal.SIGKILL) == "killed by SIGKILL"


def test_a_child_that_dies_once_is_started_again_and_the_console_says_so(tmp_path):
    marker = tmp_path / "died-once"
    running = tmp_path / "running"
    script = f"""
        import pathlib, sys, time
        marker = pathlib.Path({str(marker)!r})
        if not marker.exists():
            marker.touch()
            print("first run, dying", flush=True)
            sys.exit(3)
        pathlib.Path({str(running)!r}).touch()
        time.sleep(60)
    """
    lines: list[str] = []
    child = Child("worker", lambda: python(script))
    supervisor = Supervisor([child], lines.append, FAST)
    supervisor.start_all()
    first = child.process
    try:
        assert supervisor.run(until=running.exists) == 0
    finally:
        assert child.process is not None
        child.process.kill()
        child.process.wait()

    assert child.process is not first and first is not None and first.returncode == 3
    text = "\n".join(lines)
    assert "worker exited unexpectedly (exit code 3); starting it again in 0.1s" in text
    assert f"worker restarted (pid {child.process.pid})" in text
    assert "worker | first run, dying" in text


def test_a_child_that_keeps_dying_stops_the_run_with_its_last_lines():
    lines: list[str] = []
    script = """
        print("loading settings", flush=True)
        raise SystemExit("port 8000 is taken")
    """
    child = Child("beat", lambda: python(script))
    supervisor = Supervisor([child], lines.append, FAST)
    supervisor.start_all()

    assert supervisor.run(until=lambda: False) == 1
    text = "\n".join(lines)
    assert text.count("beat exited unexpectedly (exit code 1)") == FAST.max_restarts
    assert "beat keeps dying (exit code 1; 4 exits within 60s): stopping everything" in text
    shown = text.split("stopping everything. Its last lines:")[1]
    assert "beat ! loading settings" in shown and "beat ! port 8000 is taken" in shown


def test_a_healthy_child_beside_a_dying_one_is_left_alone():
    lines: list[str] = []
    healthy = Child("web", lambda: python("import time; time.sleep(60)"))
    dying = Child("beat", lambda: python("raise SystemExit(2)"))
    supervisor = Supervisor([healthy, dying], lines.append, FAST)
    supervisor.start_all()
    first = healthy.process
    try:
        assert supervisor.run(until=lambda: False) == 1
        assert healthy.process is first and healthy.running()
    finally:
        assert first is not None
        first.kill()
        first.wait()
    assert not any(line.startswith("web exited") for line in lines)


# A supervising process as the launcher runs one: signals installed by the launcher's own
# function, two children in sessions of their own, their pids printed.
SUPERVISING = """
import subprocess, sys
from devstack.launcher import stop, stop_on_signals
from devstack.supervisor import Child, Supervisor

stop_on_signals()
children = [
    Child(name, lambda: subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"],
                                         start_new_session=True))
    for name in ("worker", "beat")
]
supervisor = Supervisor(children, lambda line: print(line, flush=True))
try:
    supervisor.start_all()
    print("pids", *[c.process.pid for c in children], flush=True)
    supervisor.run()
except KeyboardInterrupt:
    print("stopping", flush=True)
finally:
    stop({c.name: c.process for c in children})
    print("stopped", flush=True)
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead but not yet reaped; its parent (the supervisor) is gone after the
    # test waited for it, so init reaps it; /proc says which state it is in meanwhile.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_sigint_and_sigterm_stop_every_child_even_with_sigint_ignored_at_start(sig):
    # Started as a script's background job is: with SIGINT ignored, which Python keeps
    # unless told otherwise.
    process = subprocess.Popen(
        [sys.executable, "-c", SUPERVISING],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    assert process.stdout is not None
    pids: list[int] = []
    for line in process.stdout:
        if line.startswith("pids "):
            pids = [int(pid) for pid in line.split()[1:]]
            break
    assert len(pids) == 2 and all(alive(pid) for pid in pids)

    process.send_signal(sig)
    rest = process.communicate(timeout=60)[0]

    assert process.returncode == 0, rest
    assert "stopping" in rest and "stopped" in rest
    assert wait_until(lambda: not any(alive(pid) for pid in pids), 30)
