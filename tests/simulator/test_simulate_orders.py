"""``manage.py simulate_orders``: its exit code follows the invariants, and ``--json -``
puts the JSON report on stdout."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command


@pytest.mark.django_db(transaction=True, databases="__all__")
def test_the_command_exits_1_on_a_failed_invariant_and_can_print_json(services_url, catalogue):
    """simulate_orders raises CommandError with return code 1 when an invariant fails (here:
    orders never finish); --json - puts the JSON report on stdout and the text on stderr."""
    stdout, stderr = io.StringIO(), io.StringIO()
    args = ["--orders", "2", "--concurrency", "2", "--timeout", "0.3", "--seed", "1", "--json", "-"]
    with pytest.raises(CommandError) as failed:
        call_command("simulate_orders", *args, "--url", services_url, stdout=stdout, stderr=stderr)
    assert failed.value.returncode == 1
    report = json.loads(stdout.getvalue())
    assert report["passed"] is False and len(report["stuck"]) == 2 and report["seed"] == 1
    assert "FAIL every order terminal" in stderr.getvalue()
