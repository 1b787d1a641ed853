"""The transport seam: a requests adapter, mounted on the shared service-client session,
through which the ``payments_unreachable`` fault sends the checkout's calls to payments
to an address that refuses connections (``FAULTS_REFUSING_URL``). The caller gets the
refused connection's own ``ConnectionError``, as when payments is really down."""

from __future__ import annotations

from django.conf import settings
from requests import PreparedRequest, Response
from requests.adapters import HTTPAdapter

from faults.services import fault_fires

# The checkout's calls to payments (authorize, capture, cancel) all change something;
# reads (the summary an observer takes) must stay sighted while the fault is on.
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class PaymentsUnreachableAdapter(HTTPAdapter):
    """An ordinary HTTP adapter, except for the checkout's calls to payments while
    ``payments_unreachable`` fires: those go to ``FAULTS_REFUSING_URL`` instead."""

    def send(self, request: PreparedRequest, *args, **kwargs) -> Response:
        if _is_checkout_call(request) and fault_fires("payments_unreachable"):
            request = _refused_copy(request)
        return super().send(request, *args, **kwargs)


def _is_checkout_call(request: PreparedRequest) -> bool:
    payments = f"{settings.PAYMENTS_BASE_URL}/api/payments/"
    return request.method not in _SAFE_METHODS and (request.url or "").startswith(payments)


def _refused_copy(request: PreparedRequest) -> PreparedRequest:
    # Same path and body, another address: the connect fails as a dead service's would.
    assert request.url is not None  # _is_checkout_call matched it against payments' URL
    refused = request.copy()
    refused.url = settings.FAULTS_REFUSING_URL + request.url[len(settings.PAYMENTS_BASE_URL) :]
    return refused
