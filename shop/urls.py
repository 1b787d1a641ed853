from django.urls import path

from shop import views

app_name = "shop"
urlpatterns = [
    path("", views.product_list, name="product-list"),
    path("products/<str:sku>/", views.product_detail, name="product-detail"),
    path("cart/", views.cart_view, name="cart"),
    path("cart/add/<str:sku>/", views.cart_add_view, name="cart-add"),
    path("cart/update/<str:sku>/", views.cart_update_view, name="cart-update"),
    path("cart/remove/<str:sku>/", views.cart_remove_view, name="cart-remove"),
    path("orders/<uuid:order_id>/", views.order_detail, name="order-detail"),
    path("favicon.ico", views.favicon, name="favicon"),
]
