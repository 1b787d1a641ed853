from django.apps import AppConfig
from django.db.models.signals import post_migrate


class TelemetryConfig(AppConfig):
    name = "telemetry"
    verbose_name = "Telemetry"

    def ready(self) -> None:
        from telemetry.access import ensure_support_group

        # Once per migrate (for this app), after every table exists: see telemetry/access.py.
        post_migrate.connect(ensure_support_group, sender=self, dispatch_uid="telemetry.support_group")
