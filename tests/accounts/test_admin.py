from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import User
from accounts.services import BEEKEEPERS_GROUP
from tests.accounts.factories import PASSWORD, login

pytestmark = pytest.mark.django_db


@pytest.fixture
def root_admin(root: User) -> Client:
    client = Client()
    client.force_login(root)
    return client


def test_superuser_lists_and_searches_users(root_admin: Client, alice: User, bob: User) -> None:
    response = root_admin.get("/admin/accounts/user/", {"q": "alice"})

    assert response.status_code == 200
    assert b"alice@example.com" in response.content
    assert b"bob@example.com" not in response.content
    assert root_admin.get("/admin/accounts/user/", {"is_staff__exact": "1"}).status_code == 200
    assert root_admin.get(f"/admin/accounts/user/{alice.pk}/change/").status_code == 200


def test_user_added_in_the_admin_is_a_beekeeper(root_admin: Client) -> None:
    response = root_admin.post(
        "/admin/accounts/user/add/",
        {
            "email": "Carol@Example.com",
            "name": "Carol",
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
    )

    assert response.status_code == 302, response.content
    carol = User.objects.get(email="carol@example.com")
    assert carol.is_staff and carol.check_password(PASSWORD)
    assert carol.groups.filter(name=BEEKEEPERS_GROUP).exists()


def test_admin_refuses_a_duplicate_email_in_another_case(root_admin: Client, alice: User) -> None:
    response = root_admin.post(
        "/admin/accounts/user/add/",
        {"email": "ALICE@example.com", "password1": PASSWORD, "password2": PASSWORD},
    )

    assert response.status_code == 200  # the form again, with the error
    assert User.objects.filter(email="alice@example.com").count() == 1


def test_beekeeper_signs_in_to_the_admin_with_any_case(alice: User) -> None:
    client = Client()
    response = client.post(
        "/admin/login/", {"username": "ALICE@example.com", "password": PASSWORD, "next": "/admin/"}
    )

    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_beekeeper_cannot_see_or_edit_users(alice: User, bob: User) -> None:
    client = Client()
    client.force_login(alice)

    index = client.get("/admin/")
    assert index.status_code == 200
    assert b"/admin/accounts/" not in index.content
    assert client.get("/admin/accounts/user/").status_code == 403
    assert client.get(f"/admin/accounts/user/{alice.pk}/change/").status_code == 403
    response = client.post(f"/admin/accounts/user/{alice.pk}/change/", {"is_superuser": "on"})
    assert response.status_code == 403
    alice.refresh_from_db()
    assert not alice.is_superuser


def test_stray_user_permissions_do_not_open_the_user_admin(alice: User) -> None:
    from django.contrib.auth.models import Permission

    alice.user_permissions.add(*Permission.objects.filter(content_type__app_label="accounts"))
    client = Client()
    client.force_login(User.objects.get(pk=alice.pk))

    assert client.get("/admin/accounts/user/").status_code == 403


def test_superuser_edits_a_user_in_the_admin(root_admin: Client, alice: User) -> None:
    response = root_admin.post(
        f"/admin/accounts/user/{alice.pk}/change/",
        {
            "email": "Alice.Smith@Example.com",
            "name": "Alice Smith",
            "is_active": "on",
            "is_staff": "on",
            "groups": [g.pk for g in alice.groups.all()],
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
        },
    )

    assert response.status_code == 302, response.content
    alice.refresh_from_db()
    assert (alice.email, alice.name) == ("alice.smith@example.com", "Alice Smith")
    assert alice.check_password(PASSWORD)


NEW_PASSWORD = "queen-cell-frame-77"


def test_password_set_in_the_admin_ends_the_users_sessions(
    root_admin: Client, alice: User, api: APIClient
) -> None:
    refresh = login(api, alice.email)["refresh"]

    response = root_admin.post(
        f"/admin/accounts/user/{alice.pk}/password/",
        {"usable_password": "true", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )

    assert response.status_code == 302, response.content
    assert api.post("/auth/token/refresh", {"refresh": refresh}).status_code == 401
    alice.refresh_from_db()
    assert alice.check_password(NEW_PASSWORD)
    login(api, alice.email, NEW_PASSWORD)


def test_password_disabled_in_the_admin_ends_the_users_sessions(
    root_admin: Client, alice: User, api: APIClient
) -> None:
    refresh = login(api, alice.email)["refresh"]

    response = root_admin.post(
        f"/admin/accounts/user/{alice.pk}/password/",
        {"usable_password": "false", "unset-password": "1"},
    )

    assert response.status_code == 302, response.content
    assert api.post("/auth/token/refresh", {"refresh": refresh}).status_code == 401
    alice.refresh_from_db()
    assert not alice.has_usable_password()


def test_a_weak_password_in_the_admin_is_a_form_error_and_changes_nothing(
    root_admin: Client, alice: User, api: APIClient
) -> None:
    refresh = login(api, alice.email)["refresh"]

    response = root_admin.post(
        f"/admin/accounts/user/{alice.pk}/password/",
        {"usable_password": "true", "password1": "12345678", "password2": "12345678"},
    )

    assert response.status_code == 200
    assert response.context["form"].errors["password2"]
    alice.refresh_from_db()
    assert alice.check_password(PASSWORD)
    assert api.post("/auth/token/refresh", {"refresh": refresh}).status_code == 200
