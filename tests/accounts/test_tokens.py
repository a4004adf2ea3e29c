from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from tests.accounts.factories import PASSWORD, login

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("url", ["/auth/token", "/auth/token/"])
def test_login_returns_an_access_and_a_refresh_token(api: APIClient, alice: User, url: str) -> None:
    response = api.post(url, {"email": "alice@example.com", "password": PASSWORD})

    assert response.status_code == 200
    tokens = response.json()
    assert set(tokens) == {"access", "refresh"}
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    assert api.get("/users/me").json()["email"] == "alice@example.com"


def test_login_email_is_case_insensitive(api: APIClient, alice: User) -> None:
    assert set(login(api, " Alice@EXAMPLE.com")) == {"access", "refresh"}


@pytest.mark.parametrize(
    "credentials",
    [
        {"email": "alice@example.com", "password": "wrong-password-1"},
        {"email": "nobody@example.com", "password": PASSWORD},
    ],
    ids=["wrong-password", "unknown-email"],
)
def test_bad_credentials_are_401(api: APIClient, alice: User, credentials: dict) -> None:
    response = api.post("/auth/token", credentials)

    assert response.status_code == 401
    assert "access" not in response.json()


def test_inactive_user_cannot_log_in(api: APIClient, alice: User) -> None:
    User.objects.filter(pk=alice.pk).update(is_active=False)

    response = api.post("/auth/token", {"email": "alice@example.com", "password": PASSWORD})

    assert response.status_code == 401


def test_missing_credentials_are_400_naming_fields(api: APIClient) -> None:
    response = api.post("/auth/token", {})

    assert response.status_code == 400
    assert set(response.json()) == {"email", "password"}


@pytest.mark.parametrize("url", ["/auth/token/refresh", "/auth/token/refresh/"])
def test_refresh_rotates_and_a_used_refresh_token_is_401(
    api: APIClient, alice: User, url: str
) -> None:
    first = login(api, "alice@example.com")

    response = api.post(url, {"refresh": first["refresh"]})
    assert response.status_code == 200
    second = response.json()
    assert set(second) == {"access", "refresh"}
    assert second["refresh"] != first["refresh"]

    reused = api.post(url, {"refresh": first["refresh"]})
    assert reused.status_code == 401

    assert api.post(url, {"refresh": second["refresh"]}).status_code == 200


def test_refresh_rejects_garbage_and_access_tokens(api: APIClient, alice: User) -> None:
    tokens = login(api, "alice@example.com")

    assert api.post("/auth/token/refresh", {"refresh": "not-a-token"}).status_code == 401
    assert api.post("/auth/token/refresh", {"refresh": tokens["access"]}).status_code == 401
    response = api.post("/auth/token/refresh", {})
    assert response.status_code == 400
    assert set(response.json()) == {"refresh"}


@pytest.mark.parametrize("url", ["/auth/logout", "/auth/logout/"])
def test_logout_blacklists_the_refresh_token(api: APIClient, alice: User, url: str) -> None:
    tokens = login(api, "alice@example.com")

    response = api.post(url, {"refresh": tokens["refresh"]})
    assert response.status_code == 205

    assert api.post("/auth/token/refresh", {"refresh": tokens["refresh"]}).status_code == 401
    assert api.post(url, {"refresh": tokens["refresh"]}).status_code == 401


def test_logout_only_ends_the_session_it_names(api: APIClient, alice: User) -> None:
    phone = login(api, "alice@example.com")
    laptop = login(api, "alice@example.com")

    api.post("/auth/logout", {"refresh": phone["refresh"]})

    assert api.post("/auth/token/refresh", {"refresh": laptop["refresh"]}).status_code == 200


def test_logout_bad_input(api: APIClient) -> None:
    assert api.post("/auth/logout", {"refresh": "not-a-token"}).status_code == 401
    response = api.post("/auth/logout", {})
    assert response.status_code == 400
    assert set(response.json()) == {"refresh"}
