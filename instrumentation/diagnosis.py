"""The seam through which domain pages show what the trace store says about an order.

Domain apps import no trace store (the import contracts hold them to this package), yet the
order admin shows a failed order's root cause. So the store names its diagnosis function in
``TELEMETRY_ORDER_DIAGNOSIS`` and this module loads it by dotted path, as ``setup`` loads the
span exporters: nothing here imports the store, and a shop without one shows no diagnosis.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.utils.module_loading import import_string


@dataclass(frozen=True)
class OrderDiagnosis:
    """What the trace store says about one order: the diagnosis in one line, and the id of
    the stored trace it was read from (to link to)."""

    summary: str
    trace_id: str


# (order_id, trace_id) -> the diagnosis, or None when no trace of the order is stored (yet).
OrderDiagnosisFunction = Callable[[str, str], OrderDiagnosis | None]


def order_diagnosis(order_id: str, trace_id: str = "") -> OrderDiagnosis | None:
    """The diagnosis of an order's stored trace (found by ``trace_id``, else by the spans that
    name the order), or None when there is none or no store is configured.

    Errors of the store (``DatabaseError``) reach the caller, who decides what the page says.
    """
    if not settings.TELEMETRY_ORDER_DIAGNOSIS:
        return None
    diagnose: OrderDiagnosisFunction = import_string(settings.TELEMETRY_ORDER_DIAGNOSIS)
    return diagnose(order_id, trace_id)


@dataclass(frozen=True)
class OrderFailureGroup:
    """The failure group (``/traces/failures/``) an order's trace was filed in: its id, its
    signature in a few words (``label``) and in full (``title``), and the path of its row on
    the failures page."""

    group_id: int
    label: str
    title: str
    path: str


# (order ids) -> each grouped order's group; orders without one are left out.
OrderGroupsFunction = Callable[[Sequence[str]], dict[str, OrderFailureGroup]]


def order_failure_groups(order_ids: Sequence[str]) -> dict[str, OrderFailureGroup]:
    """The failure groups of a page of orders, in one call (``TELEMETRY_ORDER_GROUPS``); an
    empty dict when no store is configured. Store errors reach the caller, as above."""
    if not settings.TELEMETRY_ORDER_GROUPS or not order_ids:
        return {}
    lookup: OrderGroupsFunction = import_string(settings.TELEMETRY_ORDER_GROUPS)
    return lookup(order_ids)
