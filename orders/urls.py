from django.urls import path

from orders import apis

app_name = "orders"
urlpatterns = [
    path("", apis.OrderCreateApi.as_view(), name="create"),
    path("<uuid:order_id>/", apis.OrderDetailApi.as_view(), name="detail"),
    path("<uuid:order_id>/place/", apis.OrderPlaceApi.as_view(), name="place"),
    path("<uuid:order_id>/fail/", apis.OrderFailApi.as_view(), name="fail"),
]
