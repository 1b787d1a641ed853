"""Login throttling on the admin login (django-axes, config/settings.py): after
AXES_FAILURE_LIMIT wrong passwords for one username from one address, that pair is refused
with a 429 that says what to do, even with the right password; other usernames and other
addresses are not locked out. Attempts are database rows: each test starts with none."""

from __future__ import annotations

import pytest
from django.conf import settings

pytestmark = pytest.mark.django_db(databases="__all__")

LOGIN = "/admin/login/"
PASSWORD = "a-long-enough-password"


@pytest.fixture
def boss(django_user_model):
    return django_user_model.objects.create_superuser("boss", "boss@example.com", PASSWORD)


def log_in(client, username: str, password: str, address: str = "127.0.0.1"):
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=address)


def test_wrong_passwords_lock_the_username_out_from_that_address(client, boss):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert log_in(client, "boss", "wrong").status_code == 200  # the form again, with its error
    locked = log_in(client, "boss", "wrong")
    assert locked.status_code == 429
    message = locked.content.decode()
    assert f"Wait {settings.AXES_COOLOFF_MINUTES:g} minutes" in message
    assert "manage.py axes_reset_username" in message
    assert log_in(client, "boss", PASSWORD).status_code == 429  # the right password too


def test_a_lockout_is_for_that_username_from_that_address_only(client, boss, django_user_model):
    """A stranger guessing cannot lock staff out from elsewhere."""
    django_user_model.objects.create_user("other", password=PASSWORD, is_staff=True)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        log_in(client, "boss", "wrong")
    assert log_in(client, "other", PASSWORD).status_code == 302
    assert log_in(client, "boss", PASSWORD, address="203.0.113.9").status_code == 302


def test_a_successful_login_clears_the_count(client, boss):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        log_in(client, "boss", "wrong")
    assert log_in(client, "boss", PASSWORD).status_code == 302
    client.logout()
    assert log_in(client, "boss", "wrong").status_code == 200  # counting from zero again
