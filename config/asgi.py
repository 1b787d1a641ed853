"""ASGI entry point; tracing is set up before Django builds its middleware chain."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from instrumentation.setup import configure  # noqa: E402

configure()

from django.core.asgi import get_asgi_application  # noqa: E402

application = get_asgi_application()
