"""Reading and changing fault flags. Reads are cached per process for a few seconds, so
a change made by the command or the admin reaches every process within that time."""

from __future__ import annotations

import logging
import os
import random
import signal
import threading
import time

from django.conf import settings
from django.db import transaction

from faults.models import FaultFlag
from faults.registry import FAULTS, SCENARIOS
from instrumentation.context import mark_fault, untraced

logger = logging.getLogger(__name__)


class FaultError(ValueError):
    """A fault name or value that cannot be set; the message says what can."""


_cache: dict[str, float] = {}
_cache_until = 0.0
_cache_lock = threading.Lock()


def fault_values(*, fresh: bool = False) -> dict[str, float]:
    """Every fault's current value (defaults filled in)."""
    global _cache, _cache_until
    with _cache_lock:
        if fresh or time.monotonic() >= _cache_until:
            with untraced():
                stored = dict(FaultFlag.objects.values_list("name", "value"))
            _cache = {name: stored.get(name, fault.default) for name, fault in FAULTS.items()}
            _cache_until = time.monotonic() + settings.FAULTS_CACHE_SECONDS
        return dict(_cache)


def faults_cache_clear() -> None:
    """Forget the cached values: the next read asks the database (a test's rolled-back flags
    must not outlive it in the cache)."""
    global _cache_until
    with _cache_lock:
        _cache_until = 0.0


def fault_value(name: str) -> float:
    return fault_values()[name]


def fault_fires(name: str) -> bool:
    """Roll the dice for a rate fault; when it fires, the current span says so."""
    rate = fault_value(name)
    fired = rate > 0 and random.random() < rate
    if fired:
        mark_fault(name)
    return fired


def fault_delay(name: str) -> None:
    """Sleep for a latency fault's current value (milliseconds), saying so on the span."""
    milliseconds = fault_value(name)
    if milliseconds > 0:
        mark_fault(name)
        time.sleep(milliseconds / 1000)


def crash_this_process() -> None:
    """The ``worker_crash`` fault: die at once, as an OOM kill or a lost machine would
    (SIGKILL: no cleanup, no acknowledgement, spans of this process unsent)."""
    logger.error("worker_crash fault: killing process %d", os.getpid())
    os.kill(os.getpid(), signal.SIGKILL)


def parse_assignment(text: str) -> tuple[str, float]:
    name, sep, raw = text.partition("=")
    if not sep:
        raise FaultError(f"expected NAME=VALUE, got {text!r}")
    fault = FAULTS.get(name)
    if fault is None:
        raise FaultError(f"unknown fault {name!r}; known faults: {', '.join(sorted(FAULTS))}")
    try:
        value = float(raw)
    except ValueError:
        raise FaultError(f"{name}: {raw!r} is not a number") from None
    if not 0 <= value <= fault.maximum:
        raise FaultError(f"{name}: {value:g} is outside 0..{fault.maximum:g} ({fault.unit})")
    return name, value


@transaction.atomic
def faults_set(values: dict[str, float]) -> None:
    for name, value in values.items():
        FaultFlag.objects.update_or_create(name=name, defaults={"value": value})
    fault_values(fresh=True)


@transaction.atomic
def faults_reset() -> None:
    FaultFlag.objects.all().delete()
    fault_values(fresh=True)


def faults_apply_scenario(name: str) -> dict[str, float]:
    if name not in SCENARIOS:
        raise FaultError(f"unknown scenario {name!r}; known: {', '.join(sorted(SCENARIOS))}")
    faults_reset()
    faults_set(SCENARIOS[name])
    return fault_values(fresh=True)
