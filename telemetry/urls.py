from django.urls import path

from telemetry import views

app_name = "telemetry"
urlpatterns = [
    path("", views.trace_list, name="trace-list"),
    path("<str:trace_id>/", views.trace_detail, name="trace-detail"),
]
