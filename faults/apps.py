"""The faults app; at start-up it mounts its transport adapter on the service client."""

from django.apps import AppConfig


class FaultsConfig(AppConfig):
    name = "faults"
    verbose_name = "Fault injection"

    def ready(self) -> None:
        from core.service_client import mount_transport
        from faults.transport import PaymentsUnreachableAdapter

        # Every call goes through it; it only acts on the checkout's calls to payments,
        # whose base URL may change at run time (tests), so it is not the mount prefix.
        for scheme in ("http://", "https://"):
            mount_transport(scheme, PaymentsUnreachableAdapter)
