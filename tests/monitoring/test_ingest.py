"""Devices (and hive owners) send readings; re-sent readings are no-ops; bad batches
are refused whole."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from monitoring import live
from telemetry.models import Reading
from telemetry.validation import METRICS
from tests.telemetry.conftest import DeviceHive, make_hive, minutes_ago, reading

pytestmark = pytest.mark.django_db(databases=["default", "telemetry"])


def stored(device_id: str) -> int:
    return Reading.objects.filter(device_id=device_id).count()


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, list[dict[str, Any]]]]:
    """What the live stream was sent (the seam to the WebSocket side)."""
    calls: list[tuple[str, list[dict[str, Any]]]] = []
    monkeypatch.setattr(
        live,
        "publish_readings_many",
        lambda batches: calls.extend((d, list(r)) for d, r in batches),
    )
    return calls


def test_device_posts_a_batch_and_a_retry_is_only_duplicates(
    device: APIClient, alice_hive: DeviceHive, django_capture_on_commit_callbacks, published
) -> None:
    batch = {"readings": [reading(3), reading(2, humidity=55.0), reading(1, sound_level=40)]}
    with django_capture_on_commit_callbacks(using="telemetry", execute=True):
        response = device.post("/telemetry", batch, format="json")
    assert response.status_code == 201, response.content
    assert response.json() == {"accepted": 3, "duplicates": 0}
    assert stored(alice_hive.device_id) == 3
    # One live message for the batch, oldest first, in the API's reading shape.
    assert len(published) == 1
    device_id, messages = published[0]
    assert device_id == alice_hive.device_id
    assert [m["time"] for m in messages] == [r["time"] for r in batch["readings"]]
    assert set(messages[1]) == {"time", *METRICS}  # every metric, null where absent
    assert {"temperature", "humidity", "weight", "sound_level", "battery", "rssi"} <= set(METRICS)

    batch["readings"].append(reading(0.5))
    with django_capture_on_commit_callbacks(using="telemetry", execute=True):
        response = device.post("/telemetry/", batch, format="json")
    assert response.status_code == 201
    assert response.json() == {"accepted": 1, "duplicates": 3}
    assert [m["time"] for m in published[1][1]] == [batch["readings"][-1]["time"]]

    with django_capture_on_commit_callbacks(using="telemetry", execute=True):
        response = device.post("/telemetry", batch, format="json")
    assert response.status_code == 200
    assert response.json() == {"accepted": 0, "duplicates": 4}
    assert len(published) == 2  # nothing new, nothing published
    assert stored(alice_hive.device_id) == 4


def test_device_posts_a_single_reading(device: APIClient, alice_hive: DeviceHive) -> None:
    response = device.post("/telemetry", reading(1, temperature=34.8), format="json")
    assert response.status_code == 201
    assert response.json() == {"accepted": 1, "duplicates": 0}
    assert Reading.objects.get(device_id=alice_hive.device_id).temperature == 34.8


def test_same_time_twice_in_one_batch_counts_as_duplicate(
    device: APIClient, alice_hive: DeviceHive
) -> None:
    first = reading(2, temperature=35.0)
    response = device.post(
        "/telemetry", {"readings": [first, {**first, "temperature": 36.0}]}, format="json"
    )
    assert response.json() == {"accepted": 1, "duplicates": 1}
    assert Reading.objects.get(device_id=alice_hive.device_id).temperature == 35.0


@pytest.mark.parametrize("key", [None, "", "bk_not-a-real-key"])
def test_missing_or_wrong_device_key_is_401(alice_hive: DeviceHive, key: str | None) -> None:
    client = APIClient()
    if key is not None:
        client.credentials(HTTP_X_DEVICE_KEY=key)
    response = client.post("/telemetry", reading(1), format="json")
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_device_key"
    assert stored(alice_hive.device_id) == 0


def test_a_jwt_is_no_device_key(alice_client: APIClient, alice_hive: DeviceHive) -> None:
    assert alice_client.post("/telemetry", reading(1), format="json").status_code == 401


def test_bad_reading_rejects_the_whole_batch(device: APIClient, alice_hive: DeviceHive) -> None:
    batch = {
        "readings": [
            reading(3),
            reading(2),
            reading(1),
            {"time": minutes_ago(0.5), "temperature": 120.0},
            {"time": "not a time", "humidity": 50},
        ]
    }
    response = device.post("/telemetry", batch, format="json")
    assert response.status_code == 400
    errors = response.json()["readings"]
    assert set(errors) == {"3", "4"}
    assert "temperature" in errors["3"] and "time" in errors["4"]
    assert stored(alice_hive.device_id) == 0


def test_bad_single_reading_names_the_field(device: APIClient) -> None:
    response = device.post("/telemetry", {"time": minutes_ago(1), "weight": -3}, format="json")
    assert response.status_code == 400
    assert list(response.json()) == ["weight"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"readings": "lots"}, "readings"),
        ({"readings": []}, "readings"),
        ({"readings": [], "extra": 1}, "extra"),
        ([1, 2], "non_field_errors"),
    ],
)
def test_wrong_body_shapes_are_400(device: APIClient, body: Any, field: str) -> None:
    response = device.post("/telemetry", body, format="json")
    assert response.status_code == 400
    assert field in response.json()


def test_malformed_json_is_400_json(device: APIClient) -> None:
    response = device.post("/telemetry", b'{"readings": [', content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


def test_key_writes_only_its_own_device(device: APIClient, alice_hive: DeviceHive, bob) -> None:
    other = make_hive(bob, "hive-bob-1")
    response = device.post(
        "/telemetry", {"device_id": other.device_id, "readings": [reading(1)]}, format="json"
    )
    assert response.status_code == 400 and "device_id" in response.json()
    response = device.post(
        "/telemetry", {**reading(1), "device_id": other.device_id}, format="json"
    )
    assert response.status_code == 400 and "device_id" in response.json()
    assert stored(other.device_id) == 0 and stored(alice_hive.device_id) == 0
    # Naming its own device is fine.
    response = device.post(
        "/telemetry", {"device_id": alice_hive.device_id, "readings": [reading(1)]}, format="json"
    )
    assert response.status_code == 201


@override_settings(TELEMETRY_MAX_BATCH=3)
def test_oversized_batch_is_413(device: APIClient, alice_hive: DeviceHive) -> None:
    response = device.post(
        "/telemetry", {"readings": [reading(m) for m in range(1, 5)]}, format="json"
    )
    assert response.status_code == 413
    assert response.json()["max_batch"] == 3
    assert response.json()["code"] == "batch_too_large"
    assert "readings" in response.json()["detail"]
    assert stored(alice_hive.device_id) == 0


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000)
def test_oversized_body_is_413(device: APIClient) -> None:
    body = json.dumps({"readings": [reading(m) for m in range(1, 50)]})
    response = device.post("/telemetry", body, content_type="application/json")
    assert response.status_code == 413
    # Too many bytes, not too many readings: the answer says which limit was hit.
    assert response.json()["code"] == "body_too_large"
    assert "1000 bytes" in response.json()["detail"]


def test_owner_posts_readings_with_jwt(alice_client: APIClient, alice_hive: DeviceHive) -> None:
    path = f"/hives/{alice_hive.hive.pk}/telemetry"
    response = alice_client.post(path, {"readings": [reading(2), reading(1)]}, format="json")
    assert response.status_code == 201
    assert response.json() == {"accepted": 2, "duplicates": 0}
    assert stored(alice_hive.device_id) == 2


def test_others_cannot_post_to_a_hive(bob_client: APIClient, alice_hive: DeviceHive) -> None:
    path = f"/hives/{alice_hive.hive.pk}/telemetry/"
    assert bob_client.post(path, reading(1), format="json").status_code == 404
    assert APIClient().post(path, reading(1), format="json").status_code == 401
    assert stored(alice_hive.device_id) == 0
