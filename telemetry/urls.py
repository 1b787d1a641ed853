"""The viewer's and the dashboard's URLs, under ``/traces/``."""

from django.urls import path

from telemetry.dashboard import views as dashboard_views
from telemetry.viewer import failures, views

app_name = "telemetry"
urlpatterns = [
    path("", views.trace_list, name="trace-list"),
    # Before <str:trace_id>/, which would take "services", "metrics", "sampling" and "failures" for trace ids.
    path("services/", dashboard_views.services, name="services"),
    path("metrics/", dashboard_views.metrics, name="metrics"),
    path("sampling/", dashboard_views.sampling, name="sampling"),
    path("failures/", failures.failure_groups, name="failures"),
    path("compare/", views.trace_compare, name="trace-compare"),
    path("load/", views.trace_load, name="trace-load"),
    path("<str:trace_id>/", views.trace_detail, name="trace-detail"),
    path("<str:trace_id>/otlp.json", views.trace_otlp, name="trace-otlp"),
    path("<str:trace_id>/find/", views.trace_find, name="trace-find"),
    path("<str:trace_id>/rows/", views.subtree_rows, name="subtree-rows"),
    path("<str:trace_id>/spans/<str:span_id>/", views.span_details, name="span-details"),
]
