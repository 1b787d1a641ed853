"""The view seam: a mixin that delays a DRF view by a latency fault, as a slow service
would, without the view's own code knowing."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rest_framework.request import Request

from faults.services import fault_delay

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
        if self._does_work(request):
            fault_delay(self.latency_fault)

    def _does_work(self, request: Request) -> bool:
        method = (request.method or "").lower()  # None only on a bare, unserved HttpRequest
        return method != "options" and hasattr(self, method)
