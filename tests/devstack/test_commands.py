"""devstack/commands.py: one process runs the tools' management commands, each answered
with its exit code and output, as a ``manage.py`` process of its own would have been."""

from __future__ import annotations

import os
import subprocess

import pytest

from devstack.commands import CommandRunner


@pytest.fixture
def runner(tmp_path):
    runner = CommandRunner({**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}, log=tmp_path / "log")
    yield runner
    runner.close()


def pid(runner: CommandRunner) -> str:
    """The pid the command process prints (shell's ``-v 0``: nothing else)."""
    outcome = runner.run("shell", "-v", "0", "-c", "import os; print(os.getpid())")
    assert outcome.code == 0 and outcome.stdout.strip().isdigit(), outcome
    return outcome.stdout


def test_commands_run_one_after_another_in_one_process(runner):
    assert pid(runner) == pid(runner)


def test_a_failing_command_answers_its_code_and_error(runner):
    outcome = runner.run("shell", "-c", "raise SystemExit(3)")
    assert outcome.code == 3
    unknown = runner.run("no_such_command")
    assert unknown.code == 1 and "no_such_command" in unknown.stderr
    assert runner.run("check").code == 0  # the process goes on serving


def test_a_command_past_its_timeout_is_killed_and_the_next_one_gets_a_new_process(runner):
    before = pid(runner)
    with pytest.raises(subprocess.TimeoutExpired):
        runner.run("shell", "-c", "import time; time.sleep(30)", timeout=0.5)
    assert pid(runner) != before
