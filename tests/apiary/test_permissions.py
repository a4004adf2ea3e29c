"""Every beekeeper sees and changes only their own data: bob vs. alice's objects."""

from __future__ import annotations

import pytest

from apiary.models import Apiary, Event, Hive, QueenBee
from tests.factories import EventFactory, QueenFactory


@pytest.fixture
def alice_objects(alice_apiary, alice_hive):
    return {
        "apiary": alice_apiary,
        "hive": alice_hive,
        "queen": QueenFactory(hive=alice_hive),
        "event": EventFactory(hive=alice_hive, type="note"),
    }


DETAIL_URLS = {
    "apiary": "/apiaries/{id}",
    "hive": "/hives/{id}",
    "queen": "/queens/{id}",
    "event": "/events/{id}",
}
NESTED_GET = [
    ("apiary", "/apiaries/{id}/hives"),
    ("apiary", "/apiaries/{id}/events"),
    ("hive", "/hives/{id}/queens"),
    ("hive", "/hives/{id}/events"),
]
NESTED_POST = [
    ("apiary", "/apiaries/{id}/hives", {"name": "x", "device_id": "bob-in-alice"}),
    ("apiary", "/apiaries/{id}/events", {"type": "note", "occurred_at": "2026-05-01T00:00:00Z"}),
    ("hive", "/hives/{id}/queens", {"year_born": 2026}),
    ("hive", "/hives/{id}/events", {"type": "note", "occurred_at": "2026-05-01T00:00:00Z"}),
    ("hive", "/hives/{id}/device-key", {}),
    ("queen", "/queens/{id}/retire", {"removal_reason": "died"}),
]


def _snapshot() -> tuple:
    return (
        list(Apiary.objects.values().order_by("pk")),
        list(Hive.objects.values().order_by("pk")),
        list(QueenBee.objects.values().order_by("pk")),
        list(Event.objects.values().order_by("pk")),
    )


@pytest.mark.django_db
@pytest.mark.parametrize("kind", DETAIL_URLS)
@pytest.mark.parametrize("method", ["get", "patch", "put", "delete"])
def test_bob_gets_404_on_alices_objects(as_bob, alice_objects, kind, method) -> None:
    before = _snapshot()
    url = DETAIL_URLS[kind].format(id=alice_objects[kind].id)
    body = None if method == "get" else {"name": "pwned", "notes": "pwned"}
    response = getattr(as_bob, method)(url, body, format="json")
    assert response.status_code == 404
    assert _snapshot() == before


@pytest.mark.django_db
@pytest.mark.parametrize(("kind", "url"), NESTED_GET)
def test_bob_cannot_list_below_alices_objects(as_bob, alice_objects, kind, url) -> None:
    assert as_bob.get(url.format(id=alice_objects[kind].id)).status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize(("kind", "url", "payload"), NESTED_POST)
def test_bob_cannot_create_below_alices_objects(as_bob, alice_objects, kind, url, payload) -> None:
    before = _snapshot()
    assert (
        as_bob.post(url.format(id=alice_objects[kind].id), payload, format="json").status_code
        == 404
    )
    assert _snapshot() == before


@pytest.mark.django_db
def test_bob_sees_none_of_alices_objects_in_lists(as_bob, alice_objects) -> None:
    for url in (
        "/apiaries",
        "/hives",
        "/queens",
        "/events",
        f"/events?hive={alice_objects['hive'].id}",
    ):
        assert as_bob.get(url).json()["count"] == 0, url


@pytest.mark.django_db
def test_bob_cannot_create_a_hive_in_alices_apiary(as_bob, alice_objects) -> None:
    response = as_bob.post(
        "/hives", {"apiary": alice_objects["apiary"].id, "name": "x", "device_id": "sneaky"}
    )
    assert response.status_code == 400
    assert "apiary" in response.json()
    assert not Hive.objects.filter(device_id="sneaky").exists()


@pytest.mark.django_db
def test_bob_cannot_move_his_hive_into_alices_apiary(as_bob, bob_apiary, alice_objects) -> None:
    hive = as_bob.post(
        "/hives", {"apiary": bob_apiary.id, "name": "B1", "device_id": "bob-001"}
    ).json()
    response = as_bob.patch(f"/hives/{hive['id']}", {"apiary": alice_objects["apiary"].id})
    assert response.status_code == 400
    assert "apiary" in response.json()
    assert Hive.objects.get(pk=hive["id"]).apiary_id == bob_apiary.id


@pytest.mark.django_db
def test_bob_cannot_attach_events_or_lineage_to_alices_objects(
    as_bob, bob_apiary, alice_objects
) -> None:
    event = as_bob.post(
        "/events",
        {"hive": alice_objects["hive"].id, "type": "note", "occurred_at": "2026-05-01T00:00:00Z"},
        format="json",
    )
    assert event.status_code == 400 and "hive" in event.json()
    hive = as_bob.post(
        "/hives", {"apiary": bob_apiary.id, "name": "B1", "device_id": "bob-002"}
    ).json()
    queen = as_bob.post(f"/hives/{hive['id']}/queens", {"mother": alice_objects["queen"].id})
    assert queen.status_code == 400 and "mother" in queen.json()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", "/apiaries"),
        ("post", "/apiaries"),
        ("get", "/hives"),
        ("post", "/hives"),
        ("get", "/queens"),
        ("get", "/events"),
        ("post", "/events"),
        ("get", "/hives/1"),
        ("delete", "/hives/1"),
    ],
)
def test_anonymous_gets_401(anonymous, method, url) -> None:
    response = getattr(anonymous, method)(url)
    assert response.status_code == 401
    assert response["Content-Type"].startswith("application/json")


@pytest.mark.django_db
def test_superuser_sees_everyones_apiaries(alice_objects, bob_apiary) -> None:
    from rest_framework.test import APIClient

    from tests.factories import SuperuserFactory

    client = APIClient()
    client.force_authenticate(SuperuserFactory())
    assert client.get("/apiaries").json()["count"] == 2
