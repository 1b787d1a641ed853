"""Keeps the trace store in its own database alias, apart from the shop's tables."""

STORE_APP = "telemetry"
STORE_DB = "telemetry"


class TelemetryRouter:
    def db_for_read(self, model, **hints):
        return STORE_DB if model._meta.app_label == STORE_APP else None

    db_for_write = db_for_read

    def allow_relation(self, obj1, obj2, **hints):
        return None

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        if app_label == STORE_APP:
            return db == STORE_DB
        return db != STORE_DB
