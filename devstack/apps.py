from django.apps import AppConfig


class DevstackConfig(AppConfig):
    """Installed only for its ``runserver`` (devstack/management/commands/runserver.py)."""

    name = "devstack"
