from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.core import mail
from django.db import IntegrityError
from rest_framework.test import APIClient

from accounts.models import User
from accounts.services import BEEKEEPERS_GROUP
from tests.accounts.factories import PASSWORD

pytestmark = pytest.mark.django_db

APIARY_PERMISSIONS = {
    f"apiary.{action}_{model}"
    for action in ("add", "change", "delete", "view")
    for model in ("apiary", "hive", "queenbee", "event")
}


@pytest.mark.parametrize("url", ["/auth/register", "/auth/register/"])
def test_register_creates_a_staff_beekeeper(api: APIClient, url: str) -> None:
    response = api.post(url, {"email": "Alice@Example.COM", "password": PASSWORD, "name": "Alice"})

    assert response.status_code == 201
    assert response.json() == {
        "email": "alice@example.com",
        "name": "Alice",
        "detail": "Check your inbox: we sent a link to verify this address.",
    }
    alice = User.objects.get(email="alice@example.com")
    assert alice.is_staff and alice.is_active and not alice.is_superuser
    assert not alice.email_verified
    assert list(alice.groups.values_list("name", flat=True)) == [BEEKEEPERS_GROUP]
    assert alice.password != PASSWORD and alice.check_password(PASSWORD)
    assert alice.password not in response.content.decode()
    assert "password" not in response.content.decode()
    assert [m.to for m in mail.outbox] == [["alice@example.com"]]


def test_registered_beekeeper_holds_every_apiary_permission(api: APIClient) -> None:
    api.post("/auth/register", {"email": "alice@example.com", "password": PASSWORD})
    alice = User.objects.get(email="alice@example.com")

    assert APIARY_PERMISSIONS <= alice.get_all_permissions()
    assert not alice.has_perm("accounts.view_user")
    assert not alice.has_perm("auth.change_group")


def test_beekeepers_group_exists_after_migrate_with_the_apiary_permissions() -> None:
    group = Group.objects.get(name=BEEKEEPERS_GROUP)
    codenames = {
        f"{p.content_type.app_label}.{p.codename}"
        for p in group.permissions.select_related("content_type")
    }
    assert APIARY_PERMISSIONS <= codenames
    assert {c.split(".")[0] for c in codenames} == {"apiary"}


def test_name_is_optional(api: APIClient) -> None:
    response = api.post("/auth/register", {"email": "bob@example.com", "password": PASSWORD})

    assert response.status_code == 201
    assert response.json()["name"] == ""


@pytest.mark.parametrize(
    "password",
    ["short1", "12345678901", "password123", "alice@example.com"],
    ids=["too-short", "numeric", "common", "like-the-email"],
)
def test_weak_password_is_400_naming_password(api: APIClient, password: str) -> None:
    response = api.post("/auth/register", {"email": "alice@example.com", "password": password})

    assert response.status_code == 400
    assert set(response.json()) == {"password"}
    assert not User.objects.filter(email="alice@example.com").exists()


def test_a_taken_email_in_any_case_answers_like_a_new_one(api: APIClient, alice: User) -> None:
    taken = api.post("/auth/register", {"email": "ALICE@example.com", "password": PASSWORD})
    new = api.post("/auth/register", {"email": "NEW@example.com", "password": PASSWORD})

    assert taken.status_code == new.status_code == 201
    assert taken.json() == {**new.json(), "email": "alice@example.com"}
    assert User.objects.filter(email__iexact="alice@example.com").count() == 1
    alice.refresh_from_db()
    assert alice.check_password(PASSWORD)


def test_missing_and_malformed_fields_are_named(api: APIClient) -> None:
    response = api.post("/auth/register", {})
    assert response.status_code == 400
    assert set(response.json()) == {"email", "password"}

    response = api.post("/auth/register", {"email": "not-an-email", "password": PASSWORD})
    assert response.status_code == 400
    assert set(response.json()) == {"email"}
    assert User.objects.count() == 0


def test_register_refuses_privilege_fields(api: APIClient) -> None:
    response = api.post(
        "/auth/register",
        {"email": "mallory@example.com", "password": PASSWORD, "is_superuser": True},
    )

    assert response.status_code == 400
    assert response.json() == {"is_superuser": ["Unknown field."]}
    assert not User.objects.filter(email="mallory@example.com").exists()


def test_register_works_while_signed_in_to_the_admin(root: User) -> None:
    # Session cookies without a CSRF token must not turn the public endpoint into a 403.
    api = APIClient(enforce_csrf_checks=True)
    api.force_login(root)
    response = api.post("/auth/register", {"email": "carol@example.com", "password": PASSWORD})

    assert response.status_code == 201


def test_database_refuses_a_mixed_case_email() -> None:
    with pytest.raises(IntegrityError):
        User.objects.create(email="Mixed@Example.com")
