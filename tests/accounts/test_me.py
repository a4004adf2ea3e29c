from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from tests.accounts.factories import login

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", "/users/me"),
        ("patch", "/users/me"),
        ("get", "/users/me/"),
        ("post", "/users/me/password"),
    ],
)
def test_anonymous_is_401(api: APIClient, method: str, url: str) -> None:
    response = getattr(api, method)(url, {})

    assert response.status_code == 401
    assert "detail" in response.json()


def test_bad_bearer_token_is_401(api: APIClient) -> None:
    api.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")

    assert api.get("/users/me").status_code == 401


def test_me_shows_the_profile_without_the_password(alice_client: APIClient, alice: User) -> None:
    response = alice_client.get("/users/me")

    assert response.status_code == 200
    body = response.json()
    assert body == {
        "id": alice.pk,
        "email": "alice@example.com",
        "email_verified": True,
        "name": "Alice",
        "date_joined": body["date_joined"],
        "time_zone": "",
    }
    assert body["date_joined"]
    assert "password" not in response.content.decode()


def test_patch_changes_name_and_lowercased_email(
    alice_client: APIClient, alice: User, api: APIClient
) -> None:
    response = alice_client.patch(
        "/users/me/", {"name": "Alice B.", "email": "Alice.B@Example.com"}
    )

    assert response.status_code == 200
    assert response.json()["email"] == "alice.b@example.com"
    assert response.json()["name"] == "Alice B."
    alice.refresh_from_db()
    assert (alice.email, alice.name) == ("alice.b@example.com", "Alice B.")
    assert set(login(api, "alice.b@example.com")) == {"access", "refresh"}


def test_patch_to_an_email_in_use_is_400_naming_email(
    alice_client: APIClient, alice: User, bob: User
) -> None:
    response = alice_client.patch("/users/me", {"email": "BOB@example.com", "name": "Eve"})

    assert response.status_code == 400
    assert set(response.json()) == {"email"}
    alice.refresh_from_db()
    assert (alice.email, alice.name) == ("alice@example.com", "Alice")


def test_patch_keeping_the_same_email_is_fine(alice_client: APIClient) -> None:
    response = alice_client.patch("/users/me", {"email": "ALICE@example.com"})

    assert response.status_code == 200
    assert response.json()["email"] == "alice@example.com"


def test_patch_cannot_change_privileges_or_identity(alice_client: APIClient, alice: User) -> None:
    before = User.objects.get(pk=alice.pk)

    response = alice_client.patch(
        "/users/me",
        {
            "id": 999,
            "is_staff": False,
            "is_superuser": True,
            "is_active": False,
            "date_joined": "2000-01-01T00:00:00Z",
            "password": "plain-text-password",
        },
    )

    assert response.status_code == 400
    assert set(response.json()) == {
        "id",
        "is_staff",
        "is_superuser",
        "is_active",
        "date_joined",
        "password",
    }
    alice.refresh_from_db()
    assert alice.pk == before.pk
    assert alice.is_staff and alice.is_active and not alice.is_superuser
    assert alice.date_joined == before.date_joined
    assert alice.password == before.password


def test_patch_with_a_malformed_email_is_400(alice_client: APIClient) -> None:
    response = alice_client.patch("/users/me", {"email": "nope"})

    assert response.status_code == 400
    assert set(response.json()) == {"email"}


def test_put_and_delete_are_not_allowed(alice_client: APIClient, alice: User) -> None:
    assert alice_client.put("/users/me", {"email": "x@example.com"}).status_code == 405
    assert alice_client.delete("/users/me").status_code == 405
    assert User.objects.filter(pk=alice.pk).exists()
