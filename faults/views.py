"""The view seam: mixins that make a DRF view misbehave as a troubled service would,
without the view's own code knowing: delayed by a latency fault (a slow service), or
answering 503 under a rate fault (an overloaded service shedding load)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rest_framework.request import Request

from core.api import ServiceUnavailable
from faults.services import fault_delay, fault_fires

# The mixin goes before APIView in a view's bases; the type checker is told so, to know
# the ``initial`` it extends. At run time it stays a plain mixin.
if TYPE_CHECKING:
    from rest_framework.views import APIView as _ViewBase
else:
    _ViewBase = object


class InjectedLatencyMixin(_ViewBase):
    """Sleep for ``latency_fault``'s current value once the request is authenticated and
    permitted, just before the handler runs. No transaction is open there (no
    ATOMIC_REQUESTS), so the delay holds no lock. A request that does no work (refused,
    405, OPTIONS) is not delayed."""

    latency_fault: str

    def initial(self, request: Request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)
        if does_work(self, request):
            fault_delay(self.latency_fault)


def does_work(view: object, request: Request) -> bool:
    """Whether the view has a handler for the request that does work (not OPTIONS, not a 405)."""
    method = (request.method or "").lower()  # None only on a bare, unserved HttpRequest
    return method != "options" and hasattr(view, method)


class InjectedUnavailableMixin(_ViewBase):
    """Answer ``503 service_unavailable`` when ``unavailable_fault`` fires, once the request
    is authenticated and permitted, before the handler runs (nothing is done): a service
    shedding load. The answer is the APIs' own error shape, raised as an anticipated
    error, so the request's span is a 5xx with no exception of the view's in it. A request
    that does no work is never refused."""

    unavailable_fault: str

    def initial(self, request: Request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)
        if does_work(self, request) and fault_fires(self.unavailable_fault):
            raise ServiceUnavailable(f"The service is overloaded (injected fault {self.unavailable_fault}).")
