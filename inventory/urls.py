from django.urls import path

from inventory import apis

app_name = "inventory"
urlpatterns = [
    path("stock/", apis.StockListApi.as_view(), name="stock-list"),
    path("reservations/", apis.ReservationCreateApi.as_view(), name="reservation-create"),
    path("reservations/expire/", apis.ReservationExpireApi.as_view(), name="reservation-expire"),
    path(
        "reservations/<uuid:order_id>/commit/", apis.ReservationCommitApi.as_view(), name="reservation-commit"
    ),
    path(
        "reservations/<uuid:order_id>/release/",
        apis.ReservationReleaseApi.as_view(),
        name="reservation-release",
    ),
]
