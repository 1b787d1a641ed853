from django.urls import path

from payments import apis

app_name = "payments"
urlpatterns = [
    path("authorizations/", apis.PaymentAuthorizeApi.as_view(), name="authorize"),
    path("payments/<uuid:order_id>/capture/", apis.PaymentCaptureApi.as_view(), name="capture"),
    path("payments/<uuid:order_id>/cancel/", apis.PaymentCancelApi.as_view(), name="cancel"),
    path("summary/", apis.PaymentSummaryApi.as_view(), name="summary"),
]
