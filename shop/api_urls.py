from django.urls import path

from shop import apis

app_name = "shop-api"
urlpatterns = [
    path("products/", apis.ProductListApi.as_view(), name="product-list"),
    path("checkout/", apis.CheckoutApi.as_view(), name="checkout"),
    path("orders/<uuid:order_id>/", apis.OrderStatusApi.as_view(), name="order-status"),
]
