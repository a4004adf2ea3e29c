from __future__ import annotations

import pytest
from django.conf import settings as django_settings
from django.core.cache import caches
from pytest_django import Settings
from rest_framework.test import APIClient

from accounts.models import User
from tests.accounts.factories import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_per_minute(settings: Settings) -> None:
    settings.REST_FRAMEWORK = {
        **django_settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"auth": "2/min"},
    }
    caches["throttle"].clear()


def _assert_throttled(response) -> None:  # noqa: ANN001
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert "throttled" in response.json()["detail"].lower()


def test_login_is_throttled(api: APIClient, alice: User, two_per_minute: None) -> None:
    wrong = {"email": "alice@example.com", "password": "guess-number-1"}
    assert api.post("/auth/token", wrong).status_code == 401
    assert api.post("/auth/token/", wrong).status_code == 401

    response = api.post("/auth/token", {"email": "alice@example.com", "password": PASSWORD})

    _assert_throttled(response)
    assert "access" not in response.json()


def test_registration_is_throttled(api: APIClient, two_per_minute: None) -> None:
    for n in range(2):
        body = {"email": f"user{n}@example.com", "password": PASSWORD}
        assert api.post("/auth/register", body).status_code == 201

    response = api.post("/auth/register", {"email": "user9@example.com", "password": PASSWORD})

    _assert_throttled(response)
    assert not User.objects.filter(email="user9@example.com").exists()


def test_a_spoofed_x_forwarded_for_does_not_reset_the_throttle(
    api: APIClient, alice: User, two_per_minute: None
) -> None:
    wrong = {"email": "alice@example.com", "password": "guess"}
    for n in range(2):
        assert (
            api.post("/auth/token", wrong, HTTP_X_FORWARDED_FOR=f"203.0.113.{n}").status_code == 401
        )

    response = api.post("/auth/token", wrong, HTTP_X_FORWARDED_FOR="198.51.100.99")

    _assert_throttled(response)


def test_behind_a_trusted_proxy_its_client_address_is_throttled(
    settings: Settings, api: APIClient, alice: User, two_per_minute: None
) -> None:
    # DRF re-reads its settings when the test changes them.
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    wrong = {"email": "alice@example.com", "password": "guess"}
    for _ in range(2):
        assert api.post("/auth/token", wrong, HTTP_X_FORWARDED_FOR="203.0.113.1").status_code == 401

    # Another client behind the same proxy is not throttled by the first one's attempts.
    other = api.post("/auth/token", wrong, HTTP_X_FORWARDED_FOR="203.0.113.2")

    assert other.status_code == 401
    _assert_throttled(api.post("/auth/token", wrong, HTTP_X_FORWARDED_FOR="203.0.113.1"))
