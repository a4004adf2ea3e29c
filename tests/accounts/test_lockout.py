"""Failed sign-ins lock one account out from one address, on the admin and on the API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings as django_settings
from django.test import Client
from pytest_django import Settings
from rest_framework.test import APIClient

from accounts.models import User
from tests.accounts.factories import PASSWORD, BeekeeperFactory

pytestmark = pytest.mark.django_db

LIMIT = 3
ADDRESS_LIMIT = 8
COOL_OFF = timedelta(minutes=15)


@pytest.fixture(autouse=True)
def lockout(settings: Settings) -> None:
    # The test settings turn the lockout off for every other test, as they do throttling.
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = LIMIT
    settings.AXES_IP_FAILURE_LIMIT = ADDRESS_LIMIT
    settings.AXES_COOLOFF_TIME = COOL_OFF


def _admin_login(client: Client, email: str, password: str, **extra: str):
    return client.post(
        "/admin/login/?next=/admin/",
        {"username": email, "password": password, "next": "/admin/"},
        **extra,
    )


def _token(api: APIClient, email: str, password: str, **extra: str):
    return api.post("/auth/token", {"email": email, "password": password}, **extra)


def _assert_locked_page(response) -> None:  # noqa: ANN001
    assert response.status_code == 429
    assert response["Content-Type"].startswith("text/html")
    assert response["Retry-After"] == str(int(COOL_OFF.total_seconds()))
    assert "Too many failed sign-in attempts" in response.content.decode()


def _assert_locked_json(response) -> None:  # noqa: ANN001
    assert response.status_code == 429
    assert response["Retry-After"] == str(int(COOL_OFF.total_seconds()))
    body = response.json()
    assert body["code"] == "locked_out"
    assert "Too many failed sign-in attempts" in body["detail"]
    assert body["retry_after"] == int(COOL_OFF.total_seconds())
    assert "access" not in body


def test_wrong_passwords_on_the_admin_lock_out_even_the_right_one(alice: User) -> None:
    client = Client()
    # Any capitalisation is the same account.
    for n, email in enumerate(["alice@example.com", "ALICE@example.com"]):
        response = _admin_login(client, email, f"guess-{n}")
        assert response.status_code == 200  # the form again, with its error

    _assert_locked_page(_admin_login(client, "Alice@Example.com", "guess-2"))
    _assert_locked_page(_admin_login(client, "alice@example.com", PASSWORD))
    assert client.get("/admin/").status_code == 302  # not signed in


def test_a_spoofed_x_forwarded_for_changes_nothing(alice: User) -> None:
    client = Client()
    statuses = [
        _admin_login(
            client, alice.email, "guess", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}"
        ).status_code
        for n in range(LIMIT)
    ]

    locked = _admin_login(client, alice.email, PASSWORD, HTTP_X_FORWARDED_FOR="198.51.100.7")

    assert statuses == [200] * (LIMIT - 1) + [429]
    assert locked.status_code == 429
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"127.0.0.1"}


def test_the_token_endpoint_is_locked_out_with_json(api: APIClient, alice: User) -> None:
    for url in ["/auth/token", "/auth/token/"][: LIMIT - 1]:
        assert api.post(url, {"email": alice.email, "password": "guess"}).status_code == 401

    _assert_locked_json(_token(api, alice.email, "guess"))
    _assert_locked_json(_token(api, alice.email, PASSWORD))


def test_failures_on_the_admin_and_the_api_count_together(api: APIClient, alice: User) -> None:
    client = Client()
    for _ in range(LIMIT - 1):
        assert _admin_login(client, alice.email, "guess").status_code == 200

    _assert_locked_json(_token(api, alice.email, "guess"))
    _assert_locked_page(_admin_login(client, alice.email, PASSWORD))


def test_a_success_resets_the_count(alice: User) -> None:
    client = Client()
    for _ in range(LIMIT - 1):
        assert _admin_login(client, alice.email, "guess").status_code == 200
    assert _admin_login(client, alice.email, PASSWORD).status_code == 302
    client.post("/admin/logout/")

    for _ in range(LIMIT - 1):
        assert _admin_login(client, alice.email, "guess").status_code == 200
    assert _admin_login(client, alice.email, PASSWORD).status_code == 302


def test_a_success_on_the_token_endpoint_resets_the_count(api: APIClient, alice: User) -> None:
    for _ in range(LIMIT - 1):
        assert _token(api, alice.email, "guess").status_code == 401
    assert _token(api, alice.email, PASSWORD).status_code == 200

    for _ in range(LIMIT - 1):
        assert _token(api, alice.email, "guess").status_code == 401
    assert _token(api, alice.email, PASSWORD).status_code == 200


def test_other_accounts_and_addresses_are_not_affected(
    api: APIClient, alice: User, bob: User
) -> None:
    client = Client()
    for _ in range(LIMIT):
        _admin_login(client, alice.email, "guess")
    _assert_locked_page(_admin_login(client, alice.email, PASSWORD))

    # bob, from the same address:
    assert _admin_login(Client(), bob.email, PASSWORD).status_code == 302
    assert _token(api, bob.email, PASSWORD).status_code == 200
    # alice, from elsewhere: nobody can lock her out of her own sign-in.
    elsewhere = Client(REMOTE_ADDR="192.0.2.10")
    assert _admin_login(elsewhere, alice.email, PASSWORD).status_code == 302
    assert _token(api, alice.email, PASSWORD, REMOTE_ADDR="192.0.2.10").status_code == 200


def test_password_spraying_from_one_address_is_capped(api: APIClient) -> None:
    carol = BeekeeperFactory(email="carol@example.com")
    # One guess each at many accounts: never the per-account limit.
    for n in range(ADDRESS_LIMIT - 1):
        response = _token(api, f"user{n}@example.com", "Summer2026!")
        assert response.status_code == 401

    _assert_locked_json(_token(api, "someone@example.com", "Summer2026!"))
    # The address is paused for every account; another address is not.
    _assert_locked_page(_admin_login(Client(), carol.email, PASSWORD))
    assert _token(api, carol.email, PASSWORD, REMOTE_ADDR="192.0.2.10").status_code == 200


def test_the_auth_throttle_still_answers_first(settings: Settings, api: APIClient, alice: User):
    settings.REST_FRAMEWORK = {
        **django_settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"auth": f"{LIMIT - 1}/min"},
    }
    for _ in range(LIMIT - 1):
        assert _token(api, alice.email, "guess").status_code == 401

    response = _token(api, alice.email, "guess")

    assert response.status_code == 429
    assert "throttled" in response.json()["detail"].lower()  # not counted as a failure
    assert _admin_login(Client(), alice.email, PASSWORD).status_code == 302
