"""A device_id belongs to its owner for as long as its readings are kept.

Readings are keyed by device_id alone, so whoever holds a hive with that id reads its
history: another beekeeper must never get it, not even after the hive is deleted.
"""

from __future__ import annotations

import re

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from apiary.models import DEVICE_ID_FORMAT, Device, Hive
from apiary.services import hive_create
from telemetry.models import Reading
from tests.factories import ApiaryFactory

BOTH = pytest.mark.django_db(databases=["default", "telemetry"])


def _reading(device_id: str, minutes: int = 1, temperature: float = 35.0) -> Reading:
    return Reading.objects.create(
        device_id=device_id,
        time=timezone.now() - timezone.timedelta(minutes=minutes),
        temperature=temperature,
    )


@BOTH
def test_a_deleted_hives_device_id_stays_with_its_owner(
    as_alice, as_bob, alice_hive, bob_apiary
) -> None:
    _reading(alice_hive.device_id)
    assert as_alice.delete(f"/hives/{alice_hive.id}").status_code == 204

    response = as_bob.post(
        "/hives", {"apiary": bob_apiary.id, "name": "Squatter", "device_id": "alice-001"}
    )

    assert response.status_code == 409
    assert "not available" in response.json()["device_id"][0]
    assert not Hive.objects.filter(device_id="alice-001").exists()
    assert Reading.objects.filter(device_id="alice-001").count() == 1


@BOTH
def test_the_owner_gets_the_history_back_with_a_new_hive(as_alice, alice_hive) -> None:
    _reading(alice_hive.device_id)
    apiary_id = alice_hive.apiary_id
    as_alice.delete(f"/hives/{alice_hive.id}")

    created = as_alice.post(
        "/hives", {"apiary": apiary_id, "name": "Again", "device_id": "alice-001"}
    )

    assert created.status_code == 201
    readings = as_alice.get(f"/hives/{created.json()['id']}/telemetry").json()["results"]
    assert len(readings) == 1


@BOTH
def test_device_id_cannot_change_once_the_hive_has_readings(as_alice, alice_hive) -> None:
    _reading(alice_hive.device_id)

    response = as_alice.patch(f"/hives/{alice_hive.id}", {"device_id": "alice-002"})

    assert response.status_code == 400
    assert "readings" in response.json()["device_id"][0]
    alice_hive.refresh_from_db()
    assert alice_hive.device_id == "alice-001"


@BOTH
def test_device_id_of_a_hive_without_readings_can_change_and_the_old_one_is_freed(
    as_alice, as_bob, alice_hive, bob_apiary
) -> None:
    response = as_alice.patch(f"/hives/{alice_hive.id}", {"device_id": "alice-002"})
    assert response.status_code == 200
    assert response.json()["device_id"] == "alice-002"
    assert Device.objects.get(device_id="alice-002").owner_id == alice_hive.apiary.owner_id

    # Nothing was ever stored under the old id: it is free for anyone.
    taken = as_bob.post("/hives", {"apiary": bob_apiary.id, "name": "B", "device_id": "alice-001"})
    assert taken.status_code == 201


@BOTH
def test_purge_deletes_the_readings_and_frees_the_device_id(
    as_alice, as_bob, alice_hive, bob_apiary
) -> None:
    _reading(alice_hive.device_id, minutes=1)
    _reading(alice_hive.device_id, minutes=2)

    response = as_alice.delete(f"/hives/{alice_hive.id}?purge_telemetry=true")

    assert response.status_code == 204
    assert not Reading.objects.filter(device_id="alice-001").exists()
    assert not Device.objects.filter(device_id="alice-001").exists()
    created = as_bob.post(
        "/hives", {"apiary": bob_apiary.id, "name": "B", "device_id": "alice-001"}
    )
    assert created.status_code == 201
    assert as_bob.get(f"/hives/{created.json()['id']}/telemetry").json()["results"] == []


@BOTH
@pytest.mark.parametrize("value", ["maybe", "2", ""])
def test_an_invalid_purge_flag_is_a_400_and_deletes_nothing(as_alice, alice_hive, value) -> None:
    _reading(alice_hive.device_id)

    response = as_alice.delete(f"/hives/{alice_hive.id}?purge_telemetry={value}")

    assert response.status_code == 400
    assert "purge_telemetry" in response.json()
    assert Hive.objects.filter(pk=alice_hive.pk).exists()
    assert Reading.objects.filter(device_id="alice-001").exists()


@pytest.mark.django_db
def test_device_id_is_optional_and_generated_unguessable(as_alice, alice_apiary) -> None:
    first = as_alice.post("/hives", {"apiary": alice_apiary.id, "name": "One"})
    second = as_alice.post(f"/apiaries/{alice_apiary.id}/hives", {"name": "Two"})

    assert first.status_code == second.status_code == 201
    ids = [first.json()["device_id"], second.json()["device_id"]]
    assert all(re.fullmatch(r"bee-[0-9a-f]{24}", device_id) for device_id in ids)
    assert ids[0] != ids[1]
    assert first.json()["device_key"]


@pytest.mark.django_db
def test_nested_hive_post_takes_the_apiary_from_the_url(as_alice, alice_apiary) -> None:
    url = f"/apiaries/{alice_apiary.id}/hives"
    assert as_alice.post(url, {"name": "Plain"}).status_code == 201
    same = as_alice.post(url, {"name": "Same", "apiary": alice_apiary.id})
    assert same.status_code == 201
    assert same.json()["apiary"] == alice_apiary.id

    other = ApiaryFactory(owner=alice_apiary.owner)
    response = as_alice.post(url, {"name": "Elsewhere", "apiary": other.id})

    assert response.status_code == 400
    assert "apiary" in response.json()
    assert not Hive.objects.filter(name="Elsewhere").exists()


@pytest.mark.django_db
@pytest.mark.parametrize("field", ["hive", "apiary"])
def test_nested_event_post_naming_another_parent_is_a_400(
    as_alice, alice_apiary, alice_hive, field
) -> None:
    body = {"type": "note", "occurred_at": "2026-05-01T10:00:00Z"}
    other = {"hive": alice_hive.id, "apiary": alice_apiary.id}[field]
    for url in (f"/apiaries/{alice_apiary.id}/events", f"/hives/{alice_hive.id}/events"):
        response = as_alice.post(url, {**body, field: other + 1000})
        assert response.status_code == 400, url
        assert field in response.json()
    # The URL's own parent may be repeated.
    same = as_alice.post(f"/hives/{alice_hive.id}/events", {**body, "hive": alice_hive.id})
    assert same.status_code == 201


@BOTH
def test_a_device_id_is_released_once_its_readings_have_expired(
    as_alice, as_bob, alice_hive, bob_apiary
) -> None:
    from io import StringIO

    from django.core.management import call_command

    _reading(alice_hive.device_id)
    as_alice.delete(f"/hives/{alice_hive.id}")
    call_command("prune_readings", stdout=StringIO())
    assert Device.objects.filter(device_id="alice-001").exists()  # history is still there

    Reading.objects.filter(device_id="alice-001").delete()  # as the retention would
    out = StringIO()
    call_command("prune_readings", stdout=out)

    assert "Released 1 device id(s)" in out.getvalue()
    assert not Device.objects.filter(device_id="alice-001").exists()
    created = as_bob.post(
        "/hives", {"apiary": bob_apiary.id, "name": "B", "device_id": "alice-001"}
    )
    assert created.status_code == 201


# --- The device_id format: one rule, the model's validator -----------------------------

BAD_DEVICE_IDS = ["has space", "-leading-dash", "x" * 65, "ends-with-newline\n", "ü-umlaut", ""]


@pytest.mark.django_db
@pytest.mark.parametrize("device_id", BAD_DEVICE_IDS)
def test_the_model_refuses_a_malformed_device_id(alice_apiary, device_id: str) -> None:
    hive = Hive(apiary=alice_apiary, name="Malformed", device_id=device_id)
    with pytest.raises(ValidationError) as caught:
        hive.full_clean()
    assert "device_id" in caught.value.message_dict
    with pytest.raises(ValidationError):
        Device(device_id=device_id).full_clean()


@pytest.mark.django_db
@pytest.mark.parametrize("device_id", BAD_DEVICE_IDS[:-1])
def test_the_service_refuses_a_malformed_device_id_with_the_models_message(
    alice, alice_apiary, device_id: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        hive_create(actor=alice, apiary=alice_apiary, name="Malformed", device_id=device_id)
    assert caught.value.message_dict["device_id"] == [DEVICE_ID_FORMAT]
    assert not Hive.objects.filter(name="Malformed").exists()


@pytest.mark.django_db
def test_the_api_answers_the_models_message_for_a_malformed_device_id(
    as_alice, alice_apiary
) -> None:
    response = as_alice.post(
        "/hives", {"apiary": alice_apiary.id, "name": "x", "device_id": "-leading-dash"}
    )
    assert response.status_code == 400
    assert response.json()["device_id"] == [DEVICE_ID_FORMAT]


@pytest.mark.django_db
@pytest.mark.parametrize("device_id", ["a", "Gateway-7.scale_2:A", "x" * 64])
def test_well_formed_device_ids_pass(alice_apiary, device_id: str) -> None:
    Hive(apiary=alice_apiary, name="Fine", device_id=device_id).clean_fields()
