from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from tests.accounts.factories import PASSWORD, login

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "queen-excluder-77"


@pytest.mark.parametrize("url", ["/users/me/password", "/users/me/password/"])
def test_change_password(api: APIClient, alice: User, url: str) -> None:
    other_session = login(api, "alice@example.com")
    tokens = login(api, "alice@example.com")
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")

    response = api.post(url, {"old_password": PASSWORD, "new_password": NEW_PASSWORD})

    assert response.status_code == 204
    api.credentials()
    assert api.post("/auth/token", {"email": alice.email, "password": PASSWORD}).status_code == 401
    assert set(login(api, "alice@example.com", NEW_PASSWORD)) == {"access", "refresh"}
    # Whoever held a refresh token issued before the change is locked out.
    refresh = api.post("/auth/token/refresh", {"refresh": other_session["refresh"]})
    assert refresh.status_code == 401


def test_wrong_old_password_is_400_naming_it(alice_client: APIClient, alice: User) -> None:
    before = User.objects.get(pk=alice.pk).password

    response = alice_client.post(
        "/users/me/password", {"old_password": "not-my-password", "new_password": NEW_PASSWORD}
    )

    assert response.status_code == 400
    assert set(response.json()) == {"old_password"}
    alice.refresh_from_db()
    assert alice.password == before


@pytest.mark.parametrize("new_password", ["short1", "12345678901", "password123", "alice@example"])
def test_weak_new_password_is_400_naming_it(
    alice_client: APIClient, alice: User, new_password: str
) -> None:
    response = alice_client.post(
        "/users/me/password", {"old_password": PASSWORD, "new_password": new_password}
    )

    assert response.status_code == 400
    assert set(response.json()) == {"new_password"}
    alice.refresh_from_db()
    assert alice.check_password(PASSWORD)


def test_missing_fields_are_named(alice_client: APIClient) -> None:
    response = alice_client.post("/users/me/password", {})

    assert response.status_code == 400
    assert set(response.json()) == {"old_password", "new_password"}


def test_session_user_stays_signed_in_after_changing_password(alice: User) -> None:
    api = APIClient()
    api.force_login(alice)

    response = api.post(
        "/users/me/password", {"old_password": PASSWORD, "new_password": NEW_PASSWORD}
    )

    assert response.status_code == 204
    assert api.get("/users/me").status_code == 200
