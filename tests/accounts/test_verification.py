"""Addresses are proven: registration sends a link, the link verifies the address, and
only a verified address turns invitations into memberships."""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core import mail, signing
from django.core.management import call_command
from pytest_django import Settings
from rest_framework.test import APIClient

from accounts import services
from accounts.models import User
from apiary.models import Membership
from tests.accounts.factories import PASSWORD, BeekeeperFactory, login

pytestmark = pytest.mark.django_db

_LINK = re.compile(r"(\S+/auth/verify\?token=\S+)")


def _link(message: Any) -> str:
    found = _LINK.findall(message.body)
    assert len(found) == 1, message.body
    return found[0]


def _token(link: str) -> str:
    return parse_qs(urlsplit(link).query)["token"][0]


def _register(api: APIClient, email: str) -> User:
    response = api.post("/auth/register", {"email": email, "password": PASSWORD})
    assert response.status_code == 201, response.content
    return User.objects.get(email=email)


def _signed_in(user: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {login(client, user.email)['access']}")
    return client


def test_registration_mails_a_link_that_verifies_the_address(api: APIClient) -> None:
    zoe = _register(api, "zoe@example.com")
    assert not zoe.email_verified
    [message] = mail.outbox
    assert message.to == ["zoe@example.com"]
    link = _link(message)
    assert link.startswith("http://testserver/auth/verify?token=")

    response = api.get(urlsplit(link).path + "?" + urlsplit(link).query)

    assert response.status_code == 200
    assert response.json() == {
        "email": "zoe@example.com",
        "email_verified": True,
        "detail": "Address verified.",
    }
    zoe.refresh_from_db()
    assert zoe.email_verified
    assert _signed_in(zoe).get("/users/me").json()["email_verified"] is True


def test_the_link_points_at_public_base_url(api: APIClient, settings: Settings) -> None:
    settings.PUBLIC_BASE_URL = "https://bees.example.org"
    _register(api, "zoe@example.com")

    assert _link(mail.outbox[0]).startswith("https://bees.example.org/auth/verify?token=")


def test_post_with_the_token_verifies_too_and_twice_is_harmless(api: APIClient) -> None:
    zoe = _register(api, "zoe@example.com")
    token = _token(_link(mail.outbox[0]))

    for _ in range(2):
        response = api.post("/auth/verify", {"token": token})
        assert response.status_code == 200, response.content
    zoe.refresh_from_db()
    assert zoe.email_verified


def test_an_unverified_account_signs_in_and_uses_its_own_data(api: APIClient) -> None:
    zoe = _register(api, "zoe@example.com")
    client = _signed_in(zoe)

    assert client.get("/users/me").json()["email_verified"] is False
    apiary = client.post("/apiaries", {"name": "Home", "latitude": 47.5, "longitude": 8.7})
    assert apiary.status_code == 201, apiary.content
    assert client.get(f"/apiaries/{apiary.json()['id']}").status_code == 200


# --- Bad links -----------------------------------------------------------------------------


def _expired_token(user: User, monkeypatch: pytest.MonkeyPatch, hours: int) -> str:
    past = time.time() - hours * 3600 - 60
    with monkeypatch.context() as patch:
        patch.setattr(signing.time, "time", lambda: past)
        return services.email_verification_token(user=user)


@pytest.mark.parametrize("method", ["get", "post"])
def test_bad_tokens_are_400_naming_token(
    api: APIClient, monkeypatch: pytest.MonkeyPatch, settings: Settings, method: str
) -> None:
    zoe = _register(api, "zoe@example.com")
    good = _token(_link(mail.outbox[0]))
    forged = signing.dumps({"user": zoe.pk, "email": zoe.email}, salt="another-purpose")
    unknown_user = signing.dumps(
        {"user": zoe.pk + 1000, "email": zoe.email}, salt="accounts.email-verification"
    )
    not_a_dict = signing.dumps([zoe.pk], salt="accounts.email-verification")
    expired = _expired_token(zoe, monkeypatch, settings.EMAIL_VERIFICATION_HOURS)
    bad = {
        "garbled": good[:-3] + "xyz",
        "forged": forged,
        "unknown user": unknown_user,
        "not a dict": not_a_dict,
        "expired": expired,
        "blank": "",
        "too long": "x" * 1001,
    }
    for name, token in bad.items():
        if method == "get":
            response = api.get("/auth/verify", {"token": token})
        else:
            response = api.post("/auth/verify", {"token": token})
        assert response.status_code == 400, (name, response.content)
        assert list(response.json()) == ["token"], (name, response.json())
    assert "expired" in str(api.post("/auth/verify", {"token": expired}).json())
    zoe.refresh_from_db()
    assert not zoe.email_verified


def test_missing_and_wrongly_typed_tokens_are_400_naming_the_field(api: APIClient) -> None:
    assert api.get("/auth/verify").json() == {"token": ["This field is required."]}
    assert api.get("/auth/verify").status_code == 400
    assert set(api.post("/auth/verify", {}).json()) == {"token"}
    assert set(api.post("/auth/verify", {"token": 5}).json()) == {"token"}
    response = api.post("/auth/verify", {"token": "x", "email": "zoe@example.com"})
    assert response.status_code == 400 and "email" in response.json()
    # The token goes in the body on POST, in the query on GET: nowhere else.
    assert set(api.post("/auth/verify?token=x", {"token": "x"}).json()) == {"token"}
    assert set(api.get("/auth/verify", {"token": "x", "email": "y"}).json()) >= {"email"}


def test_a_token_for_the_previous_address_is_400(api: APIClient) -> None:
    zoe = _register(api, "zoe@example.com")
    old = _token(_link(mail.outbox[0]))
    client = _signed_in(zoe)
    assert client.patch("/users/me", {"email": "zoe.new@example.com"}).status_code == 200

    response = api.get("/auth/verify", {"token": old})

    assert response.status_code == 400
    assert list(response.json()) == ["token"]
    zoe.refresh_from_db()
    assert not zoe.email_verified


# --- A changed address ---------------------------------------------------------------------


def test_a_new_email_is_unverified_until_its_own_link_is_followed(
    alice: User, api: APIClient
) -> None:
    client = _signed_in(alice)
    response = client.patch("/users/me", {"email": "alice.new@example.com"})

    assert response.status_code == 200
    assert response.json()["email_verified"] is False
    [message] = mail.outbox
    assert message.to == ["alice.new@example.com"]
    alice.refresh_from_db()
    assert not alice.email_verified

    assert api.get("/auth/verify", {"token": _token(_link(message))}).status_code == 200
    alice.refresh_from_db()
    assert alice.email_verified


def test_patching_only_the_name_keeps_the_address_verified(alice: User) -> None:
    response = _signed_in(alice).patch("/users/me", {"name": "Al", "email": "ALICE@example.com"})

    assert response.json()["email_verified"] is True
    assert mail.outbox == []


# --- Resending -----------------------------------------------------------------------------


def test_resend_mails_a_new_link_to_an_unverified_account(api: APIClient) -> None:
    zoe = _register(api, "zoe@example.com")
    mail.outbox.clear()

    response = _signed_in(zoe).post("/auth/verify/resend")

    assert response.status_code == 200
    [message] = mail.outbox
    assert message.to == ["zoe@example.com"]
    assert api.get("/auth/verify", {"token": _token(_link(message))}).status_code == 200


def test_resend_for_a_verified_address_is_400_naming_email(alice: User) -> None:
    response = _signed_in(alice).post("/auth/verify/resend")

    assert response.status_code == 400
    assert list(response.json()) == ["email"]
    assert mail.outbox == []


def test_resend_needs_a_signed_in_user(api: APIClient) -> None:
    response = api.post("/auth/verify/resend")

    assert response.status_code == 401
    assert mail.outbox == []


def test_resend_when_mail_cannot_be_sent_is_503(api: APIClient, settings: Settings) -> None:
    zoe = _register(api, "zoe@example.com")
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 1

    response = _signed_in(zoe).post("/auth/verify/resend")

    assert response.status_code == 503
    assert "could not be sent" in response.json()["detail"]


# --- Registration reveals nothing ----------------------------------------------------------


def test_registering_a_taken_address_mails_its_owner_instead(api: APIClient, alice: User) -> None:
    taken = api.post("/auth/register", {"email": "alice@example.com", "password": PASSWORD})
    fresh = api.post("/auth/register", {"email": "fresh@example.com", "password": PASSWORD})

    assert taken.status_code == fresh.status_code == 201
    assert set(taken.json()) == set(fresh.json()) == {"email", "name", "detail"}
    assert taken.json()["detail"] == fresh.json()["detail"]
    notice, verification = mail.outbox
    assert notice.to == ["alice@example.com"]
    assert "someone just tried to register" in notice.body
    assert "/auth/verify" not in notice.body
    assert verification.to == ["fresh@example.com"]
    assert User.objects.filter(email="alice@example.com").count() == 1


def test_a_taken_address_with_a_weak_password_is_refused_like_a_new_one(
    api: APIClient, alice: User
) -> None:
    taken = api.post("/auth/register", {"email": "alice@example.com", "password": "short1"})
    fresh = api.post("/auth/register", {"email": "fresh@example.com", "password": "short1"})

    assert taken.status_code == fresh.status_code == 400
    assert taken.json() == fresh.json()
    assert mail.outbox == []


def test_both_paths_hash_the_password(
    api: APIClient, alice: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The same work either way, so the answer's time does not tell them apart.
    hashed: list[str] = []
    real = services.make_password

    def counting(password: str, *args: Any, **kwargs: Any) -> str:
        hashed.append(password)
        return real(password, *args, **kwargs)

    monkeypatch.setattr(services, "make_password", counting)
    api.post("/auth/register", {"email": "alice@example.com", "password": PASSWORD})
    api.post("/auth/register", {"email": "fresh@example.com", "password": PASSWORD})

    assert hashed == [PASSWORD, PASSWORD]


# --- Invitations become memberships only for a verified address ----------------------------


def _invite(owner_client: APIClient, apiary_id: int, email: str) -> None:
    response = owner_client.post(
        f"/apiaries/{apiary_id}/members", {"email": email, "role": "viewer"}
    )
    assert response.status_code == 201, response.content


def test_registering_an_invited_address_gives_nothing_until_it_is_verified(
    as_alice: APIClient, alice_apiary: Any, alice_hive: Any, api: APIClient
) -> None:
    _invite(as_alice, alice_apiary.id, "newcomer@example.com")
    newcomer = _register(api, "newcomer@example.com")
    client = _signed_in(newcomer)

    assert client.get(f"/hives/{alice_hive.id}").status_code == 404
    assert client.get("/apiaries").json()["count"] == 0
    assert Membership.objects.get(apiary=alice_apiary).user is None

    assert api.get("/auth/verify", {"token": _token(_link(mail.outbox[0]))}).status_code == 200

    assert client.get(f"/hives/{alice_hive.id}").status_code == 200
    assert Membership.objects.get(apiary=alice_apiary).user == newcomer


def test_inviting_an_unverified_account_creates_an_invitation(
    as_alice: APIClient, alice_apiary: Any, alice_hive: Any, api: APIClient
) -> None:
    squatter = _register(api, "victim@example.com")

    _invite(as_alice, alice_apiary.id, "victim@example.com")

    assert Membership.objects.get(apiary=alice_apiary).user is None
    assert _signed_in(squatter).get(f"/hives/{alice_hive.id}").status_code == 404


def test_inviting_a_verified_account_makes_a_membership(
    as_alice: APIClient, alice_apiary: Any, bob: User
) -> None:
    _invite(as_alice, alice_apiary.id, "bob@example.com")

    assert Membership.objects.get(apiary=alice_apiary).user == bob


def test_a_changed_address_is_invited_once_verified(
    as_alice: APIClient, alice_apiary: Any, alice_hive: Any, bob: User, api: APIClient
) -> None:
    bob_client = _signed_in(bob)
    assert bob_client.patch("/users/me", {"email": "bob.new@example.com"}).status_code == 200
    _invite(as_alice, alice_apiary.id, "bob.new@example.com")
    assert bob_client.get(f"/hives/{alice_hive.id}").status_code == 404

    assert api.get("/auth/verify", {"token": _token(_link(mail.outbox[0]))}).status_code == 200

    assert bob_client.get(f"/hives/{alice_hive.id}").status_code == 200


def test_an_invitation_to_an_apiary_the_account_is_already_in_stays_an_invitation(
    as_alice: APIClient, alice_apiary: Any, bob: User, api: APIClient
) -> None:
    _invite(as_alice, alice_apiary.id, "bob@example.com")
    assert _signed_in(bob).patch("/users/me", {"email": "bob.new@example.com"}).status_code == 200
    _invite(as_alice, alice_apiary.id, "bob.new@example.com")

    assert api.get("/auth/verify", {"token": _token(_link(mail.outbox[0]))}).status_code == 200

    members = dict(Membership.objects.filter(apiary=alice_apiary).values_list("email", "user"))
    assert members == {"bob@example.com": bob.pk, "bob.new@example.com": None}


# --- Accounts the operator makes -----------------------------------------------------------


def test_createsuperuser_accounts_are_verified(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", PASSWORD)
    call_command("createsuperuser", interactive=False, email="Root@Example.com", verbosity=0)

    assert User.objects.get(email="root@example.com").email_verified


def test_the_admin_shows_and_filters_email_verified(root: User, api: APIClient) -> None:
    BeekeeperFactory(email="proven@example.com")
    _register(api, "unproven@example.com")
    admin = APIClient()
    admin.force_login(root)

    unverified = admin.get("/admin/accounts/user/", {"email_verified__exact": "0"})
    verified = admin.get("/admin/accounts/user/", {"email_verified__exact": "1"})

    assert unverified.status_code == verified.status_code == 200
    assert "unproven@example.com" in unverified.text
    assert "proven@example.com" not in unverified.text.replace("unproven@example.com", "")
    assert "proven@example.com" in verified.text
    assert "unproven@example.com" not in verified.text


def test_an_address_changed_in_the_admin_is_unverified_and_mailed(root: User, alice: User) -> None:
    admin = APIClient()
    admin.force_login(root)
    page = admin.get(f"/admin/accounts/user/{alice.pk}/change/")
    assert page.status_code == 200
    form = {
        "email": "alice.admin@example.com",
        "name": alice.name,
        "is_active": "on",
        "is_staff": "on",
        "groups": [g.pk for g in alice.groups.all()],
    }

    response = admin.post(f"/admin/accounts/user/{alice.pk}/change/", form, format="multipart")

    assert response.status_code == 302, response.content.decode()[:3000]
    alice.refresh_from_db()
    assert alice.email == "alice.admin@example.com" and not alice.email_verified
    assert [m.to for m in mail.outbox] == [["alice.admin@example.com"]]
