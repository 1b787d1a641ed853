"""URL map: the storefront, one API namespace per app, their schema and docs, the admin and
the trace viewer."""

from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.urls import include, path, re_path
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from core.api import not_found

handler404 = "core.api.not_found"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/shop/", include("shop.api_urls")),
    path("api/orders/", include("orders.urls")),
    path("api/inventory/", include("inventory.urls")),
    path("api/payments/", include("payments.urls")),
    # The OpenAPI schema of all four APIs and its docs page (Swagger UI, its init script
    # served apart so the CSP needs no inline script): staff, or the service token for tools.
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path(
        "api/docs/",
        staff_member_required(SpectacularSwaggerSplitView.as_view(url_name="api-schema")),
        name="api-docs",
    ),
    # Any other /api/ path: the JSON 404 here, not through handler404, which DEBUG skips
    # for its HTML technical page. CSRF-exempt like the API views: a POST to a wrong URL
    # is told so, not shown the CSRF failure page.
    re_path(r"^api/", csrf_exempt(not_found)),
    path("traces/", include("telemetry.urls")),
    path("", include("shop.urls")),
]
