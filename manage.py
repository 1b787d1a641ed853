#!/usr/bin/env python
"""Django's command-line utility; sets up tracing once for the process that serves."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from instrumentation.setup import configure_for_manage_py

    configure_for_manage_py(sys.argv)
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
