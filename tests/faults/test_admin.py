"""Staff set fault flags in the admin, within each fault's bounds."""

import pytest

from faults.models import FaultFlag

# Every admin page a staff member sees reads the firing alerts from the telemetry database.
pytestmark = pytest.mark.django_db(databases="__all__")


def test_staff_set_a_fault_in_the_admin_and_the_processes_read_it(admin_client):
    """A valid flag saved in the admin is the value the services read."""
    from faults.services import fault_values

    response = admin_client.post("/admin/faults/faultflag/add/", {"name": "payment_decline", "value": "0.25"})
    assert response.status_code == 302
    assert fault_values(fresh=True)["payment_decline"] == 0.25


def test_an_out_of_range_value_is_refused_with_the_reason(admin_client):
    """A rate above 1 is refused on the form, nothing stored."""
    response = admin_client.post("/admin/faults/faultflag/add/", {"name": "payment_decline", "value": "3"})
    assert response.status_code == 200
    assert "outside 0..1" in response.content.decode()
    assert not FaultFlag.objects.exists()


def test_only_staff_reach_the_fault_flags(client):
    """Anonymous visitors are sent to the admin login."""
    response = client.get("/admin/faults/faultflag/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
