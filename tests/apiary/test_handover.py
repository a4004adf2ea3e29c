"""Handing an apiary over: the previous owner may still know every hive's device key.
The answer and the console tell the new owner which keys those are, and one action (API
and admin) replaces them all, showing the new keys once."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from apiary import members
from apiary.device_keys import device_key_hash
from apiary.models import Apiary, Hive, Membership
from tests.accounts.factories import BeekeeperFactory
from tests.factories import HiveFactory
from tests.telemetry.conftest import reading

pytestmark = pytest.mark.django_db(databases=["default", "telemetry"])

NOTICE = "This hive's device key was issued under the previous owner alice@example.com; replace it."


def _api(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _admin(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _key(hive: Hive) -> str:
    return f"device-key-{hive.device_id}"  # HiveFactory's keys


def _post_reading(key: str) -> int:
    return (
        APIClient().post("/telemetry", reading(), format="json", HTTP_X_DEVICE_KEY=key).status_code
    )


@pytest.fixture
def yard(alice_apiary: Apiary) -> list[Hive]:
    return [
        HiveFactory(apiary=alice_apiary, name="North", device_id="yard-n"),
        HiveFactory(apiary=alice_apiary, name="South", device_id="yard-s"),
    ]


@pytest.fixture
def bob_member(alice_apiary: Apiary, bob: Any) -> Membership:
    return members.member_invite(
        actor=alice_apiary.owner, apiary=alice_apiary, email=bob.email, role="editor"
    )


def _hand_over(alice_apiary: Apiary, bob_member: Membership) -> Any:
    return _api(alice_apiary.owner).patch(
        f"/apiaries/{alice_apiary.pk}/members/{bob_member.pk}", {"role": "owner"}, format="json"
    )


def test_the_handover_answer_lists_the_hives_keyed_by_the_previous_owner(
    alice_apiary: Apiary, yard: list[Hive], bob_member: Membership, bob: Any, alice: Any
) -> None:
    response = _hand_over(alice_apiary, bob_member)
    assert response.status_code == 200, response.content
    assert response.json()["keys_from_previous_owner"] == [
        {"id": hive.pk, "name": hive.name, "device_id": hive.device_id} for hive in yard
    ]
    # The new owner is told on each hive; the previous owner (now an editor) is not.
    hive_url = f"/hives/{yard[0].pk}"
    assert _api(bob).get(hive_url).json()["device_key_notice"] == NOTICE
    assert _api(alice).get(hive_url).json()["device_key_notice"] is None
    listed = _api(bob).get(f"/apiaries/{alice_apiary.pk}/hives").json()["results"]
    assert {h["device_key_notice"] for h in listed} == {NOTICE}


def test_before_a_handover_nothing_is_flagged(
    alice_apiary: Apiary, yard: list[Hive], bob_member: Membership, alice: Any
) -> None:
    response = _api(alice).patch(
        f"/apiaries/{alice_apiary.pk}/members/{bob_member.pk}", {"role": "viewer"}, format="json"
    )
    assert response.json()["keys_from_previous_owner"] == []
    assert _api(alice).get(f"/hives/{yard[0].pk}").json()["device_key_notice"] is None
    created = (
        _api(alice)
        .post(f"/apiaries/{alice_apiary.pk}/hives", {"name": "New"}, format="json")
        .json()
    )
    assert created["device_key_notice"] is None


def test_replacing_every_key_after_a_handover(
    alice_apiary: Apiary, yard: list[Hive], bob_member: Membership, bob: Any
) -> None:
    for hive in yard:
        assert _post_reading(_key(hive)) == 201  # cached in the entities cache too
    _hand_over(alice_apiary, bob_member)

    response = _api(bob).post(f"/apiaries/{alice_apiary.pk}/device-keys")
    assert response.status_code == 201, response.content
    keys = response.json()["keys"]
    assert [(k["hive"], k["name"], k["device_id"]) for k in keys] == [
        (hive.pk, hive.name, hive.device_id) for hive in yard
    ]
    for hive, new in zip(yard, keys, strict=True):
        stored = Hive.objects.get(pk=hive.pk)
        assert stored.device_key_hash == device_key_hash(new["device_key"])
        assert stored.device_key_issued_to_id == bob.pk
        assert _post_reading(_key(hive)) == 401  # the previous owner's copy is dead
        assert _post_reading(new["device_key"]) == 201
    assert _api(bob).get(f"/hives/{yard[0].pk}").json()["device_key_notice"] is None
    again = _api(bob).patch(
        f"/apiaries/{alice_apiary.pk}/members/{bob_member.pk}", {}, format="json"
    )
    assert again.json()["keys_from_previous_owner"] == []


def test_replacing_one_key_clears_its_notice(
    alice_apiary: Apiary, yard: list[Hive], bob_member: Membership, bob: Any
) -> None:
    _hand_over(alice_apiary, bob_member)
    assert _api(bob).post(f"/hives/{yard[0].pk}/device-key").status_code == 201
    assert _api(bob).get(f"/hives/{yard[0].pk}").json()["device_key_notice"] is None
    assert _api(bob).get(f"/hives/{yard[1].pk}").json()["device_key_notice"] == NOTICE


@pytest.mark.parametrize(("role", "named"), [("viewer", "a viewer"), ("editor", "an editor")])
def test_members_may_not_replace_the_keys(
    alice_apiary: Apiary, yard: list[Hive], role: str, named: str
) -> None:
    member = BeekeeperFactory(email=f"{role}@example.com")
    members.member_invite(
        actor=alice_apiary.owner, apiary=alice_apiary, email=member.email, role=role
    )
    response = _api(member).post(f"/apiaries/{alice_apiary.pk}/device-keys")
    assert response.status_code == 403
    assert response.json()["detail"] == (
        f"This needs the owner role in this apiary; you are {named}."
    )
    assert all(Hive.objects.get(pk=h.pk).device_key_hash == device_key_hash(_key(h)) for h in yard)


def test_outsiders_and_anonymous_cannot_replace_the_keys(
    alice_apiary: Apiary, yard: list[Hive], bob: Any, anonymous: APIClient
) -> None:
    url = f"/apiaries/{alice_apiary.pk}/device-keys"
    missing = _api(bob).post("/apiaries/999999/device-keys")
    response = _api(bob).post(url)
    assert response.status_code == 404
    assert response.json() == missing.json()
    assert anonymous.post(url).status_code == 401
    assert all(Hive.objects.get(pk=h.pk).device_key_hash == device_key_hash(_key(h)) for h in yard)


# --- The console ------------------------------------------------------------------------


def test_the_console_tells_the_new_owner_and_replaces_every_key_once(
    alice_apiary: Apiary, yard: list[Hive], bob_member: Membership, bob: Any, alice: Any
) -> None:
    _hand_over(alice_apiary, bob_member)
    owner = _admin(bob)
    apiary_page = owner.get(f"/admin/apiary/apiary/{alice_apiary.pk}/change/").content.decode()
    assert "Replace all device keys" in apiary_page
    assert apiary_page.count(NOTICE.replace("'", "&#x27;")) == len(yard)
    hive_page = owner.get(f"/admin/apiary/hive/{yard[0].pk}/change/").content.decode()
    assert NOTICE.replace("'", "&#x27;") in hive_page
    # The previous owner, now an editor, is not told (nor offered the button).
    editor_page = _admin(alice).get(f"/admin/apiary/hive/{yard[0].pk}/change/").content.decode()
    assert "issued under the previous owner" not in editor_page

    url = f"/admin/apiary/apiary/{alice_apiary.pk}/device-keys/"
    assert "Yes, replace all keys" in owner.get(url).content.decode()
    page = owner.post(url).content.decode()
    shown = re.findall(r"<code>(bk_[\w-]+)</code>", page)
    assert len(shown) == len(yard)
    for hive, key in zip(yard, shown, strict=True):
        assert Hive.objects.get(pk=hive.pk).device_key_hash == device_key_hash(key)
        assert _post_reading(_key(hive)) == 401
        assert _post_reading(key) == 201
    # Shown once: the apiary's page no longer carries a notice, nor any key.
    after = owner.get(f"/admin/apiary/apiary/{alice_apiary.pk}/change/").content.decode()
    assert "issued under the previous owner" not in after
    assert not any(key in after for key in shown)


@pytest.mark.parametrize("role", ["viewer", "editor"])
def test_the_console_action_is_the_owners(
    alice_apiary: Apiary, yard: list[Hive], role: str
) -> None:
    member = BeekeeperFactory(email=f"{role}@example.com")
    members.member_invite(
        actor=alice_apiary.owner, apiary=alice_apiary, email=member.email, role=role
    )
    console = _admin(member)
    page = console.get(f"/admin/apiary/apiary/{alice_apiary.pk}/change/").content.decode()
    assert "Replace all device keys" not in page
    url = f"/admin/apiary/apiary/{alice_apiary.pk}/device-keys/"
    assert console.get(url).status_code == 403
    assert console.post(url).status_code == 403
    assert all(Hive.objects.get(pk=h.pk).device_key_hash == device_key_hash(_key(h)) for h in yard)


def test_the_console_action_of_another_beekeepers_apiary_is_not_found(
    alice_apiary: Apiary, yard: list[Hive], bob: Any
) -> None:
    url = f"/admin/apiary/apiary/{alice_apiary.pk}/device-keys/"
    assert _admin(bob).post(url).status_code == 404


# --- A cache that cannot take the revocation --------------------------------------------


@pytest.fixture
def cache_down(settings: Any) -> None:
    from tests.conftest import redis_cache

    # A port nothing listens on: the old keys could not be revoked.
    settings.CACHES = {**settings.CACHES, "entities": redis_cache("redis://127.0.0.1:1/0")}


def test_nothing_is_replaced_when_the_old_keys_cannot_be_revoked(
    alice_apiary: Apiary, yard: list[Hive], alice: Any, cache_down: None
) -> None:
    response = _api(alice).post(f"/apiaries/{alice_apiary.pk}/device-keys")
    assert response.status_code == 503, response.content
    assert response.json()["detail"] == (
        "The device keys could not be replaced: the cache is unavailable. Try again."
    )
    for hive in yard:
        assert Hive.objects.get(pk=hive.pk).device_key_hash == device_key_hash(_key(hive))
        assert _post_reading(_key(hive)) == 201


def test_the_console_says_why_nothing_was_replaced(
    alice_apiary: Apiary, yard: list[Hive], alice: Any, cache_down: None
) -> None:
    console = _admin(alice)
    page = console.post(f"/admin/apiary/apiary/{alice_apiary.pk}/device-keys/", follow=True)
    assert "the cache is unavailable" in page.content.decode()
    assert "<code>bk_" not in page.content.decode()
    page = console.post(f"/admin/apiary/hive/{yard[0].pk}/device-key/", follow=True)
    assert "The device key could not be replaced: the cache is unavailable" in page.content.decode()
    for hive in yard:
        assert Hive.objects.get(pk=hive.pk).device_key_hash == device_key_hash(_key(hive))
