"""How every API describes itself in its OpenAPI schema (drf-spectacular, served at
``/api/schema/``): the error shape, the service token as a security scheme, and the
refusals that come from the kernel rather than from one view.

A view declares its own answers (``@extend_schema(responses=...)`` with ``refusals(...)``
for its domain errors); ``AutoSchema`` adds what the view inherits: the 403 of
``IsInternalService``, the 400 and 415 of parsing a JSON body, the 404 of an id that names
nothing, the 429 of a throttle. So a view that gains a permission or a throttle is described
with it, and Schemathesis (tests/api/test_schema.py) checks every answer against the result.
"""

from __future__ import annotations

import re
from typing import Any

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers
from rest_framework.permissions import BasePermission

from core.api import IsInternalService
from core.idempotency import HEADER as IDEMPOTENCY_HEADER

SERVICE_TOKEN_SCHEME = "serviceToken"


class ErrorSerializer(serializers.Serializer):
    """The one error shape of every API (core.api.exception_handler)."""

    code = serializers.CharField(help_text="Stable, for programs: `insufficient_stock`, `invalid_request`…")
    message = serializers.CharField(help_text="For people; may change.")
    extra = serializers.DictField(help_text="Details that depend on the code, e.g. `fields` or `skus`.")


def refusals(described: dict[int, str]) -> dict[int, OpenApiResponse]:
    """``{status: what it means}`` as responses in the error shape."""
    return {status: OpenApiResponse(ErrorSerializer, description=text) for status, text in described.items()}


def idempotency_key(description: str, *, pattern: str | None = None, max_length: int) -> OpenApiParameter:
    """The optional ``Idempotency-Key`` request header (core.idempotency)."""
    return OpenApiParameter(
        IDEMPOTENCY_HEADER,
        {"type": "string", "minLength": 1, "maxLength": max_length},
        OpenApiParameter.HEADER,
        required=False,
        description=description,
        pattern=pattern,
    )


IDEMPOTENT_REPLAYED = OpenApiParameter(
    "Idempotent-Replayed",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    enum=["true"],
    response=True,
    description="Present when this answer is the stored answer to an earlier request with the same key.",
)

_SERVICE_TOKEN_DEFINITION = {
    "type": "http",
    "scheme": "bearer",
    "description": "The internal APIs' shared service token, `THREADLINE_SERVICE_TOKEN`.",
}
_BODY_REFUSALS = {
    400: "`malformed_json` (not JSON) or `invalid_request` (`extra.fields` says which field).",
    415: "`unsupported_media_type`: the body is not `application/json`.",
}
_FORBIDDEN = "`permission_denied`: no, or the wrong, service token."
_NOT_FOUND = "`not_found`: nothing at this path (an id that is not a UUID)."
_THROTTLED = "`throttled`: too many requests from this client; retry after `Retry-After` seconds."


class AutoSchema(SpectacularAutoSchema):
    def get_operation_id(self) -> str:
        """One view per operation (CONVENTIONS 4): ``ReservationCommitApi`` is ``reservation_commit``."""
        name = re.sub(r"Api$", "", type(self.view).__name__)
        return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()

    def get_tags(self) -> list[str]:
        """One group per app, the app that owns the view."""
        return [type(self.view).__module__.split(".")[0]]

    def get_serializer_name(self, serializer: serializers.Serializer, direction: Any) -> str:
        """Named after the view that nests it (``CheckoutApi.InputSerializer`` is
        ``CheckoutInput``): every API nests an ``InputSerializer``, one component each."""
        parts = type(serializer).__qualname__.split(".")
        return "".join(re.sub(r"(Api|Serializer)$", "", part) for part in parts)

    def get_auth(self) -> list[dict[str, list]]:
        if not self._is_internal():
            return super().get_auth()
        self.registry.register_on_missing(
            ResolvedComponent(
                name=SERVICE_TOKEN_SCHEME,
                type=ResolvedComponent.SECURITY_SCHEMA,
                object=IsInternalService,
                schema=_SERVICE_TOKEN_DEFINITION,
            )
        )
        return [{SERVICE_TOKEN_SCHEME: []}]

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        for status, description in self._inherited_refusals().items():
            if str(status) in responses:  # the view's own refusal with that status: both causes
                responses[str(status)]["description"] += f" Or {description}"
            else:
                refusal = OpenApiResponse(ErrorSerializer, description=description)
                responses[str(status)] = self._get_response_for_code(
                    refusal, str(status), direction=direction
                )
        if "429" in responses:
            responses["429"].setdefault("headers", {})["Retry-After"] = {
                "schema": {"type": "integer"},
                "description": "Seconds to wait before the next request.",
            }
        return responses

    def _inherited_refusals(self) -> dict[int, str]:
        refused: dict[int, str] = {}
        if self._reads_body():
            refused.update(_BODY_REFUSALS)
        if self._is_internal():
            refused[403] = _FORBIDDEN
        if "{" in self.path:
            refused[404] = _NOT_FOUND
        if self.view.get_throttles():
            refused[429] = _THROTTLED
        return refused

    def _is_internal(self) -> bool:
        return any(isinstance(permission, IsInternalService) for permission in self.view.get_permissions())

    def _reads_body(self) -> bool:
        """A request serializer, or an Idempotency-Key (whose fingerprint parses the body)."""
        if self.method not in {"POST", "PUT", "PATCH"}:
            return False
        headers = {p.name for p in self.get_override_parameters() if isinstance(p, OpenApiParameter)}
        return self.get_request_serializer() is not None or IDEMPOTENCY_HEADER in headers


class MaySeeSchema(BasePermission):
    """The schema describes the internal APIs too: it is for engineers, not customers. Staff
    (signed in to the admin) read it and its docs page; tools read it with the service token."""

    message = "The API schema is for staff (sign in to the admin) or callers with the service token."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_staff) or IsInternalService().has_permission(request, view)
