"""The admin as a beekeeper uses it: only their own data, the same rules as the API."""

from __future__ import annotations

import pytest
from django.test import Client

from apiary.models import Event, Hive, QueenBee
from tests.factories import PASSWORD, EventFactory, HiveFactory, QueenFactory


def _admin(user) -> Client:
    client = Client()
    assert client.login(email=user.email, password=PASSWORD)
    return client


@pytest.mark.django_db
def test_beekeeper_sees_only_their_hives_with_queen_and_last_inspection(
    alice, alice_hive, bob_apiary
) -> None:
    HiveFactory(apiary=bob_apiary, name="Bobs secret hive")
    QueenFactory(hive=alice_hive, year_born=2025, marking_color="blue")
    EventFactory(hive=alice_hive, type="inspection", occurred_at="2026-06-01T10:00:00Z")
    page = _admin(alice).get("/admin/apiary/hive/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Hive A1" in html and "Bobs secret hive" not in html
    assert "2025 blue" in html and "2026-06-01" in html
    assert f"/hives/{alice_hive.id}/live" in html


@pytest.mark.django_db
def test_bob_cannot_open_alices_hive_in_the_admin(bob, alice_hive) -> None:
    response = _admin(bob).get(f"/admin/apiary/hive/{alice_hive.id}/change/")
    assert response.status_code in (302, 404)
    assert b"Hive A1" not in response.content


@pytest.mark.django_db
def test_admin_search_and_filters(alice, alice_apiary) -> None:
    HiveFactory(apiary=alice_apiary, name="Linden", status="active")
    HiveFactory(apiary=alice_apiary, name="Willow", status="dead")
    client = _admin(alice)
    assert "Willow" not in client.get("/admin/apiary/hive/?q=Linden").content.decode()
    assert "Linden" not in client.get("/admin/apiary/hive/?status__exact=dead").content.decode()


@pytest.mark.django_db
def test_queen_introduced_through_the_admin_retires_the_previous(alice, alice_hive) -> None:
    old = QueenFactory(hive=alice_hive, introduced_at="2025-05-01")
    response = _admin(alice).post(
        "/admin/apiary/queenbee/add/",
        {
            "hive": alice_hive.id,
            "year_born": 2026,
            "introduced_at": "2026-06-01",
            "removal_reason": "superseded",
            "origin": "",
            "notes": "",
            "marking_color": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    old.refresh_from_db()
    assert not old.is_current and old.removal_reason == "superseded"
    new = QueenBee.objects.get(is_current=True)
    assert new.marking_color == "white"


@pytest.mark.django_db
def test_admin_refuses_invalid_event_details_with_a_form_error(alice, alice_hive) -> None:
    response = _admin(alice).post(
        "/admin/apiary/event/add/",
        {
            "hive": alice_hive.id,
            "type": "inspection",
            "occurred_at_0": "2026-06-01",
            "occurred_at_1": "10:00",
            "notes": "",
            "details": '{"frames_of_brood": 99}',
        },
    )
    assert response.status_code == 200
    assert "frames_of_brood" in response.content.decode()
    assert not Event.objects.exists()


@pytest.mark.django_db
def test_admin_offers_only_own_apiaries_when_adding_a_hive(alice, alice_apiary, bob_apiary) -> None:
    html = _admin(alice).get("/admin/apiary/hive/add/").content.decode()
    assert "Orchard" in html and "Meadow" not in html


@pytest.mark.django_db
def test_admin_hive_created_gets_a_device_key(alice, alice_apiary) -> None:
    response = _admin(alice).post(
        "/admin/apiary/hive/add/",
        {
            "apiary": alice_apiary.id,
            "name": "New",
            "device_id": "adm-1",
            "hive_type": "langstroth",
            "status": "active",
            "notes": "",
            "queens-TOTAL_FORMS": 0,
            "queens-INITIAL_FORMS": 0,
            "events-TOTAL_FORMS": 0,
            "events-INITIAL_FORMS": 0,
        },
        follow=True,
    )
    assert response.status_code == 200
    assert Hive.objects.get(device_id="adm-1").device_key_hash
    assert "Device key for adm-1" in response.content.decode()
