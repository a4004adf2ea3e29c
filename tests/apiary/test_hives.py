from __future__ import annotations

import pytest

from apiary.device_keys import device_key_hash
from apiary.models import Event, Hive, QueenBee
from tests.factories import EventFactory, HiveFactory, QueenFactory


@pytest.mark.django_db
def test_create_hive_returns_device_key_once_and_stores_only_its_hash(
    as_alice, alice_apiary
) -> None:
    response = as_alice.post(
        "/hives/", {"apiary": alice_apiary.id, "name": "H", "device_id": "gw-7"}
    )
    assert response.status_code == 201
    key = response.json()["device_key"]
    hive = Hive.objects.get(device_id="gw-7")
    assert hive.device_key_hash == device_key_hash(key)
    assert key not in hive.device_key_hash
    detail = as_alice.get(f"/hives/{hive.id}").json()
    assert "device_key" not in detail
    assert "device_key_hash" not in detail


@pytest.mark.django_db
def test_rotating_the_device_key_replaces_it(as_alice, alice_hive) -> None:
    old_hash = alice_hive.device_key_hash
    response = as_alice.post(f"/hives/{alice_hive.id}/device-key")
    assert response.status_code == 201
    alice_hive.refresh_from_db()
    assert alice_hive.device_key_hash == device_key_hash(response.json()["device_key"]) != old_hash


@pytest.mark.django_db
def test_a_device_id_used_by_another_of_my_hives_is_a_409_naming_that_hive(
    as_alice, alice_apiary, alice_hive
) -> None:
    response = as_alice.post(
        "/hives", {"apiary": alice_apiary.id, "name": "Copy", "device_id": alice_hive.device_id}
    )
    assert response.status_code == 409
    assert alice_hive.name in response.json()["device_id"][0]
    assert Hive.objects.count() == 1


@pytest.mark.django_db
def test_a_device_id_of_another_beekeeper_is_a_neutral_409(as_bob, bob_apiary, alice_hive) -> None:
    response = as_bob.post(
        "/hives", {"apiary": bob_apiary.id, "name": "Mine", "device_id": alice_hive.device_id}
    )
    assert response.status_code == 409
    message = response.json()["device_id"][0]
    assert "not available" in message
    for secret in (alice_hive.name, "alice", alice_hive.apiary.name):
        assert secret.lower() not in message.lower()
    assert not Hive.objects.filter(apiary=bob_apiary).exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "", "device_id": "ok-1"}, "name"),
        ({"name": "x", "device_id": "has space"}, "device_id"),
        ({"name": "x", "device_id": "ok-2", "status": "zombie"}, "status"),
        ({"name": "x", "device_id": "ok-3", "hive_type": "igloo"}, "hive_type"),
        ({"name": "x", "device_id": "ok-4", "installed_at": "yesterday"}, "installed_at"),
    ],
)
def test_invalid_hive_fields_are_400_naming_the_field(
    as_alice, alice_apiary, payload, field
) -> None:
    response = as_alice.post("/hives", {"apiary": alice_apiary.id, **payload})
    assert response.status_code == 400
    assert field in response.json()


@pytest.mark.django_db
def test_patch_cannot_change_id_or_owner(as_alice, alice_hive) -> None:
    response = as_alice.patch(f"/hives/{alice_hive.id}", {"id": 999, "name": "Renamed"})
    assert response.status_code == 200
    assert response.json()["id"] == alice_hive.id
    assert response.json()["name"] == "Renamed"


@pytest.mark.django_db
def test_hive_list_filters_orders_and_paginates(as_alice, alice_apiary) -> None:
    for n in range(3):
        HiveFactory(apiary=alice_apiary, name=f"H{n}", status="active")
    HiveFactory(apiary=alice_apiary, name="Gone", status="dead")
    body = as_alice.get("/hives?status=active&ordering=-name&page_size=2").json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == 3
    assert [h["name"] for h in body["results"]] == ["H2", "H1"]
    assert body["next"]
    assert as_alice.get(f"/apiaries/{alice_apiary.id}/hives?search=Gone").json()["count"] == 1


@pytest.mark.django_db
def test_deleting_a_hive_deletes_its_queens_and_events(as_alice, alice_hive) -> None:
    QueenFactory(hive=alice_hive)
    EventFactory(hive=alice_hive)
    assert as_alice.delete(f"/hives/{alice_hive.id}").status_code == 204
    assert not QueenBee.objects.exists()
    assert not Event.objects.exists()


@pytest.mark.django_db(databases=["default", "telemetry"])
def test_deleting_a_hive_keeps_its_telemetry_as_history(as_alice, alice_hive) -> None:
    from django.utils import timezone

    from telemetry.models import Reading

    Reading.objects.create(device_id=alice_hive.device_id, time=timezone.now(), temperature=35.0)
    assert as_alice.delete(f"/hives/{alice_hive.id}").status_code == 204
    assert Reading.objects.filter(device_id=alice_hive.device_id).count() == 1
