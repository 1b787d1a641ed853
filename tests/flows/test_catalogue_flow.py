"""Every failure kind of the catalogue (simulator/catalogue.py), provoked on one real stack:
the diagnosis of the stored trace names the expected service, operation and cause.

A kind that cannot be provoked on the database in use (``Kind.engines``) is not collected
on it; the catalogue's page lists it as not provoked. The broker_down kind stops the
stack's Redis and starts it again on the same port."""

from __future__ import annotations

import pytest
from django.conf import settings

from devstack.broker import PrivateRedis
from simulator import catalogue
from tests.flows.conftest import Stack

pytestmark = pytest.mark.flow

ENGINE = "postgresql" if settings.DATABASE_URL.startswith(("postgres://", "postgresql://")) else "sqlite"
KINDS = [kind for kind in catalogue.KINDS if ENGINE in kind.engines]
# The kinds take minutes in all: under xdist (make test) they are split into four groups,
# each run on some worker's session stack, instead of keeping one worker busy with all of
# them at the end of the run.
GROUPS = 4
PARAMS = [
    pytest.param(kind, id=kind.name, marks=pytest.mark.xdist_group(f"catalogue-{number % GROUPS}"))
    for number, kind in enumerate(KINDS)
]


class BrokerControl:
    """The stack, with its Redis stopped and started again on the same port on demand."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.url = stack.url

    def manage(self, *args: str) -> str:
        return self.stack.manage(*args)

    def stop_broker(self) -> None:
        self.stack.redis.stop()

    def start_broker(self) -> None:
        self.stack.redis = PrivateRedis(port=self.stack.redis.port)  # the stack stops this one at the end


@pytest.mark.parametrize("kind", PARAMS)
def test_each_failure_kind_is_diagnosed_right(calm, kind):
    result = catalogue.run_kind(BrokerControl(calm), kind)
    assert result.right, (
        f"{kind.name}: expected {catalogue.expected_text(kind)}, "
        f"produced {catalogue.produced_text(result)}\n{result.text}"
    )
    # The sentence a developer reads names the service at fault.
    assert result.produced["service"] in result.produced["sentence"]
