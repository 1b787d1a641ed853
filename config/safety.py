"""The refusal to run in production with unsafe settings (called by settings.py when DEBUG
is off): a missing, public, short or guessable secret (what Django's deploy check W009
warns of: fewer than 5 distinct characters, a ``django-insecure-`` prefix), or no allowed
host, stops the process with a message that says what to set and how to make a value.
And the filter that keeps URLs (with their passwords) off error pages and error mails."""

from __future__ import annotations

import re
from collections.abc import Iterable

from django.core.checks.security.base import SECRET_KEY_INSECURE_PREFIX, SECRET_KEY_MIN_UNIQUE_CHARACTERS
from django.core.exceptions import ImproperlyConfigured
from django.views.debug import SafeExceptionReporterFilter

MIN_SECRET_KEY_LENGTH = 50  # Django's own deploy check (security.W009) asks for 50
MIN_SERVICE_TOKEN_LENGTH = 32
MAKE_ONE = 'python -c "import secrets; print(secrets.token_urlsafe(50))"'


def _secret_problem(variable: str, value: str, minimum: int, known: set[str]) -> str | None:
    if not value:
        return f"{variable} is not set."
    if value in known:
        return f"{variable} is the public development default."
    if len(value) < minimum:
        return f"{variable} is {len(value)} characters long; it needs at least {minimum}."
    if len(set(value)) < SECRET_KEY_MIN_UNIQUE_CHARACTERS:  # "x" * 50 is long, not secret
        return f"{variable} has fewer than {SECRET_KEY_MIN_UNIQUE_CHARACTERS} distinct characters."
    return None


def _secret_key_problem(secret_key: str, known: set[str]) -> str | None:
    """The secret key's problems, Django's W009 among them: the prefix ``startproject``
    writes marks a key that was generated for development and probably committed."""
    if secret_key.startswith(SECRET_KEY_INSECURE_PREFIX):
        return f"DJANGO_SECRET_KEY starts with {SECRET_KEY_INSECURE_PREFIX!r}: a development key."
    return _secret_problem("DJANGO_SECRET_KEY", secret_key, MIN_SECRET_KEY_LENGTH, known)


def problems(secret_key: str, service_token: str, allowed_hosts: Iterable[str], known: set[str]) -> list[str]:
    """What makes these settings unsafe to serve with DEBUG off (empty: nothing)."""
    found = [
        _secret_key_problem(secret_key, known),
        _secret_problem("THREADLINE_SERVICE_TOKEN", service_token, MIN_SERVICE_TOKEN_LENGTH, known),
        None if list(allowed_hosts) else "DJANGO_ALLOWED_HOSTS is empty: name the hosts it answers for.",
    ]
    return [problem for problem in found if problem]


def refuse_unsafe(secret_key: str, service_token: str, allowed_hosts: Iterable[str], known: set[str]) -> None:
    """Raise ImproperlyConfigured, listing every problem at once, if there is any."""
    found = problems(secret_key, service_token, allowed_hosts, known)
    if found:
        lines = "\n".join(f"  - {problem}" for problem in found)
        raise ImproperlyConfigured(
            f"Refusing to start with DJANGO_DEBUG off:\n{lines}\n"
            f"Make a secret with: {MAKE_ONE}\n"
            "(one for DJANGO_SECRET_KEY, another for THREADLINE_SERVICE_TOKEN, the same in every "
            "process of the shop), set DJANGO_ALLOWED_HOSTS to the comma-separated host names, "
            "or set DJANGO_DEBUG=true for development (make run does)."
        )


class SettingsFilter(SafeExceptionReporterFilter):
    """Django's filter of the settings shown on debug error pages and in error mails, with
    URLs hidden too: a broker or database URL carries its password."""

    hidden_settings = re.compile(
        SafeExceptionReporterFilter.hidden_settings.pattern + "|URL|DSN|BROKER", flags=re.IGNORECASE
    )
