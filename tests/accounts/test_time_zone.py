"""A user's time zone: set through /users/me or the console, defaulted from the browser,
activated for the console's pages (accounts.middleware) and never for the API."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import User

pytestmark = pytest.mark.django_db


def _console(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_me_reads_and_changes_the_time_zone(alice_client: APIClient, alice: User) -> None:
    assert alice_client.get("/users/me").json()["time_zone"] == ""

    response = alice_client.patch("/users/me", {"time_zone": "Europe/Berlin"})

    assert response.status_code == 200
    assert response.json()["time_zone"] == "Europe/Berlin"
    alice.refresh_from_db()
    assert alice.time_zone == "Europe/Berlin"
    # Empty: none chosen again.
    assert alice_client.patch("/users/me", {"time_zone": ""}).json()["time_zone"] == ""


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "europe/berlin", "CET+1", "x" * 65, 42])
def test_an_unknown_time_zone_is_400_naming_the_field(
    alice_client: APIClient, alice: User, zone: Any
) -> None:
    alice_client.patch("/users/me", {"time_zone": "Asia/Tokyo"})

    response = alice_client.patch("/users/me", {"time_zone": zone, "name": "Eve"})

    assert response.status_code == 400
    assert set(response.json()) == {"time_zone"}
    alice.refresh_from_db()
    assert (alice.time_zone, alice.name) == ("Asia/Tokyo", "Alice")  # nothing changed


def test_console_pages_are_in_the_users_zone_and_the_api_stays_utc(alice: User) -> None:
    alice.time_zone = "Asia/Tokyo"
    alice.save()
    console = _console(alice)

    page = console.get("/admin/").content.decode()
    assert 'id="bee-time-zone"' in page and ">Asia/Tokyo</a>" in page
    assert timezone.get_current_timezone_name() == "UTC"  # deactivated after the request

    # The same session on the API: times in UTC, as for a token.
    me = console.get("/users/me").json()
    assert me["date_joined"].endswith("Z")


def test_without_a_zone_pages_are_in_utc(alice: User) -> None:
    page = _console(alice).get("/admin/").content.decode()
    assert ">UTC</a>" in page
    # The page asks the browser for its zone (the browser_tz cookie).
    assert "browser_tz=" in page and "resolvedOptions().timeZone" in page


def test_the_browsers_zone_becomes_the_users_default_once(alice: User) -> None:
    console = _console(alice)
    console.cookies["browser_tz"] = "America%2FNew_York"

    page = console.get("/admin/").content.decode()

    alice.refresh_from_db()
    assert alice.time_zone == "America/New_York"
    assert ">America/New_York</a>" in page  # this page already
    assert "browser_tz=" not in page  # no more asking
    # A chosen zone stays whatever the browser says later.
    console.cookies["browser_tz"] = "Europe/Paris"
    console.get("/admin/")
    alice.refresh_from_db()
    assert alice.time_zone == "America/New_York"


def test_an_unknown_browser_zone_is_ignored(alice: User) -> None:
    console = _console(alice)
    console.cookies["browser_tz"] = "Nowhere/Land"

    assert console.get("/admin/").status_code == 200

    alice.refresh_from_db()
    assert alice.time_zone == ""


def test_the_api_does_not_take_the_browsers_zone(alice: User) -> None:
    console = _console(alice)
    console.cookies["browser_tz"] = "Europe/Paris"

    console.get("/users/me")

    alice.refresh_from_db()
    assert alice.time_zone == ""


def test_the_console_page_changes_the_zone(alice: User) -> None:
    console = _console(alice)
    form = console.get("/admin/time-zone/")
    assert form.status_code == 200
    assert '<option value="Europe/Berlin">' in form.content.decode()

    response = console.post("/admin/time-zone/", {"time_zone": "Europe/Berlin"})

    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.time_zone == "Europe/Berlin"


def test_the_console_page_refuses_an_unknown_zone(alice: User) -> None:
    response = _console(alice).post("/admin/time-zone/", {"time_zone": "Mars/Base"})

    assert response.status_code == 200
    assert "Mars/Base is not one of the available choices" in response.content.decode()
    alice.refresh_from_db()
    assert alice.time_zone == ""


def test_the_time_zone_page_needs_a_sign_in(db: None) -> None:
    response = Client().get("/admin/time-zone/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
