"""URL map: the storefront, one API namespace per app, the admin and the trace viewer."""

from django.contrib import admin
from django.urls import include, path, re_path
from django.views.decorators.csrf import csrf_exempt

from core.api import not_found

handler404 = "core.api.not_found"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/shop/", include("shop.api_urls")),
    path("api/orders/", include("orders.urls")),
    path("api/inventory/", include("inventory.urls")),
    path("api/payments/", include("payments.urls")),
    # Any other /api/ path: the JSON 404 here, not through handler404, which DEBUG skips
    # for its HTML technical page. CSRF-exempt like the API views: a POST to a wrong URL
    # is told so, not shown the CSRF failure page.
    re_path(r"^api/", csrf_exempt(not_found)),
    path("traces/", include("telemetry.urls")),
    path("", include("shop.urls")),
]
