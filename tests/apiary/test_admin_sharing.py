"""The admin with shared apiaries: the same rights as the API, viewers read-only."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from apiary import members
from apiary.models import Hive
from tests.accounts.factories import BeekeeperFactory

pytestmark = pytest.mark.django_db(databases=["default", "telemetry"])  # hive pages: readings


def _admin(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _member(alice_apiary: Any, email: str, role: str) -> Any:
    user = BeekeeperFactory(email=email)
    members.member_invite(actor=alice_apiary.owner, apiary=alice_apiary, email=email, role=role)
    return user


def _hive_form(hive: Hive, **changes: str) -> dict[str, Any]:
    return {
        "apiary": hive.apiary_id,
        "name": hive.name,
        "device_id": hive.device_id,
        "hive_type": hive.hive_type,
        "status": hive.status,
        "installed_at": "",
        "notes": hive.notes,
        # The queen and event inlines on the page (read-only, none shown).
        "queens-TOTAL_FORMS": "0",
        "queens-INITIAL_FORMS": "0",
        "events-TOTAL_FORMS": "0",
        "events-INITIAL_FORMS": "0",
        **changes,
    }


def test_a_viewer_sees_shared_hives_read_only(alice_apiary, alice_hive) -> None:
    viewer = _admin(_member(alice_apiary, "dave@example.com", "viewer"))
    url = f"/admin/apiary/hive/{alice_hive.id}/change/"

    assert alice_hive.name in viewer.get("/admin/apiary/hive/").content.decode()
    page = viewer.get(url)
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()  # a view page, no form to save

    assert viewer.post(url, _hive_form(alice_hive, name="Mine now")).status_code == 403
    alice_hive.refresh_from_db()
    assert alice_hive.name == "Hive A1"
    assert viewer.get(f"/admin/apiary/hive/{alice_hive.id}/delete/").status_code == 403


def test_an_editor_changes_shared_hives_but_does_not_delete_them(alice_apiary, alice_hive) -> None:
    editor = _admin(_member(alice_apiary, "erin@example.com", "editor"))
    url = f"/admin/apiary/hive/{alice_hive.id}/change/"

    response = editor.post(url, _hive_form(alice_hive, name="Renamed by Erin"))

    assert response.status_code == 302, response.content.decode()[:2000]
    alice_hive.refresh_from_db()
    assert alice_hive.name == "Renamed by Erin"
    assert editor.get(f"/admin/apiary/hive/{alice_hive.id}/delete/").status_code == 403
    # The apiary itself is the owner's to change.
    assert (
        'name="_save"'
        not in editor.get(f"/admin/apiary/apiary/{alice_apiary.id}/change/").content.decode()
    )


def test_an_editor_is_offered_shared_apiaries_a_viewer_is_not(alice_apiary) -> None:
    editor = _admin(_member(alice_apiary, "erin@example.com", "editor"))
    viewer = _admin(_member(alice_apiary, "dave@example.com", "viewer"))

    assert "Orchard" in editor.get("/admin/apiary/hive/add/").content.decode()
    # A viewer with nowhere to add a hive gets no add page (its choices would be empty).
    assert viewer.get("/admin/apiary/hive/add/").status_code == 403


def test_device_keys_stay_with_the_owner_in_the_admin(alice, alice_apiary, alice_hive) -> None:
    editor = _admin(_member(alice_apiary, "erin@example.com", "editor"))
    page = editor.get(f"/admin/apiary/hive/{alice_hive.id}/change/").content.decode()
    assert "Replace device key" not in page
    assert editor.get(f"/admin/apiary/hive/{alice_hive.id}/device-key/").status_code == 403
    assert (
        "Replace device key"
        in _admin(alice).get(f"/admin/apiary/hive/{alice_hive.id}/change/").content.decode()
    )

    added = editor.post(
        "/admin/apiary/hive/add/",
        {**_hive_form(alice_hive, name="Erin's", device_id="erin-1"), "apiary": alice_apiary.id},
        follow=True,
    )

    text = added.content.decode()
    assert Hive.objects.filter(device_id="erin-1").exists()
    assert "shown only to the apiary" in text
    assert "None" not in text
