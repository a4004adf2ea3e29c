"""BEEP- and ThingSpeak-compatible ingest with a hive's device key: readings through the
field maps into telemetry, unknown keys reported, bad input refused whole and recorded.

These store only the four metrics telemetry has today; the keys of the metrics another
change adds (t, bv, rssi, snr of BEEP; field2 of HoneyPi) are answered as unmapped until
it is merged (tests/sensors/test_fieldmaps.py maps them)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from rest_framework.test import APIClient

from tests.sensors.conftest import link, stored
from tests.sensors.payloads import beep_body, honeypi_params, recent
from tests.telemetry.conftest import DeviceHive, make_hive

pytestmark = pytest.mark.django_db(databases=["default", "telemetry"])


@pytest.fixture
def client() -> APIClient:
    return APIClient()


# --- BEEP ---------------------------------------------------------------------------------------


def test_beep_body_is_stored_and_unknown_keys_reported(client, alice_hive: DeviceHive) -> None:
    at = recent(3).replace(microsecond=0)
    response = client.post("/api/sensors", beep_body(alice_hive.key, at=at), format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["accepted"], body["duplicates"]) == (1, 0)
    assert {"p", "s_fan_4", "s_fan_6"} <= set(body["unmapped"])
    assert not {"t", "t_i", "h", "weight_kg", "bv", "rssi", "snr"} & set(body["unmapped"])
    [reading] = stored(alice_hive.device_id)
    assert reading.time == at
    assert (reading.temperature, reading.humidity, reading.weight, reading.sound_level) == (
        34.9,
        58.5,
        41.75,
        55.0,
    )
    assert (reading.outside_temperature, reading.battery, reading.rssi, reading.snr) == (
        18.2,
        3.8,
        -71.0,
        7.5,
    )
    assert link(alice_hive.hive).last_adapter == "beep"


def test_beep_resend_is_a_duplicate(client, alice_hive: DeviceHive) -> None:
    body = beep_body(alice_hive.key, at=recent(5))
    assert client.post("/api/sensors", body, format="json").status_code == 201
    again = client.post("/api/sensors", body, format="json")
    assert again.status_code == 200
    assert (again.json()["accepted"], again.json()["duplicates"]) == (0, 1)
    assert len(stored(alice_hive.device_id)) == 1


def test_beep_form_body_and_header_key(client, alice_hive: DeviceHive) -> None:
    # BEEP firmware may post application/x-www-form-urlencoded: every value is text.
    body = {"t_i": "35.5", "weight_kg": "40.1", "time": str(int(recent(2).timestamp()))}
    response = client.post("/api/sensors", body, HTTP_X_DEVICE_KEY=alice_hive.key)
    assert response.status_code == 201, response.content
    [reading] = stored(alice_hive.device_id)
    assert (reading.temperature, reading.weight) == (35.5, 40.1)


def test_beep_key_in_the_query_string(client, alice_hive: DeviceHive) -> None:
    response = client.post(f"/api/sensors?key={alice_hive.key}", {"t_i": 30}, format="json")
    assert response.status_code == 201


def test_beep_without_time_is_now(client, alice_hive: DeviceHive) -> None:
    before = datetime.now(UTC)
    assert (
        client.post("/api/sensors", {"key": alice_hive.key, "h": 50}, format="json").status_code
        == 201
    )
    assert stored(alice_hive.device_id)[0].time >= before - timedelta(seconds=1)


@pytest.mark.parametrize("key", ["", "wrong", "device-key-of-nobody"])
def test_beep_bad_key_is_a_401_json(client, alice_hive: DeviceHive, key: str) -> None:
    response = client.post("/api/sensors", {"key": key, "t_i": 30}, format="json")
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_device_key"
    assert stored(alice_hive.device_id) == []


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"t_i": "hot"}, "t_i"),
        ({"time": "yesterday"}, "time"),
        ({"t_i": 300}, "t_i"),  # out of range: readings_ingest's error, in BEEP's words
        ({"time": int((datetime.now(UTC) + timedelta(hours=2)).timestamp())}, "time"),
        ({"device_id": "someone-else"}, "device_id"),
    ],
)
def test_beep_bad_input_is_a_400_naming_the_key_and_recorded(
    client, alice_hive: DeviceHive, values: dict, field: str
) -> None:
    response = client.post("/api/sensors", beep_body(alice_hive.key, **values), format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert stored(alice_hive.device_id) == []  # nothing partial
    status = link(alice_hive.hive)
    assert field in status.last_error and status.last_error_at is not None
    assert alice_hive.key not in status.last_payload  # the credential is not kept


def test_beep_body_that_is_not_an_object_is_a_400(client, alice_hive: DeviceHive) -> None:
    response = client.post(f"/api/sensors?key={alice_hive.key}", [1, 2], format="json")
    assert response.status_code == 400
    assert "non_field_errors" in response.json()


def test_beep_unknown_query_parameter_is_a_400(client, alice_hive: DeviceHive) -> None:
    response = client.post(f"/api/sensors?key={alice_hive.key}&t_i=3", {}, format="json")
    assert response.status_code == 400
    assert "t_i" in response.json()


def test_a_device_key_writes_only_its_own_hive(client, alice, bob) -> None:
    mine = make_hive(alice, "hive-a")
    theirs = make_hive(bob, "hive-b")
    client.post("/api/sensors", beep_body(mine.key, at=recent(1)), format="json")
    assert len(stored("hive-a")) == 1 and stored("hive-b") == []
    assert theirs.key != mine.key


def test_a_hive_field_map_applies(client, alice_hive: DeviceHive, alice_client) -> None:
    alice_client.patch(
        f"/hives/{alice_hive.hive.pk}/device",
        {
            "field_map": {
                "w_v": {"metric": "weight", "unit": "g"},
                "t_i": {"metric": "temperature", "unit": "°F"},
            }
        },
        format="json",
    )
    response = client.post(
        "/api/sensors", {"key": alice_hive.key, "w_v": 42500, "t_i": 95}, format="json"
    )
    assert response.status_code == 201, response.content
    [reading] = stored(alice_hive.device_id)
    assert reading.weight == pytest.approx(42.5)
    assert reading.temperature == pytest.approx(35.0)


# --- ThingSpeak ---------------------------------------------------------------------------------


def test_honeypi_posts_its_query_string_to_update_json(client, alice_hive: DeviceHive) -> None:
    params = honeypi_params(alice_hive.key)
    query = "&".join(f"{k}={v}" for k, v in params.items())
    response = client.post(f"/update.json?{query}")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["entry_id"] == 1
    assert body["channel_id"] == alice_hive.hive.pk
    assert body["field1"] == "35.2" and body["field5"] is None
    [reading] = stored(alice_hive.device_id)
    assert (reading.temperature, reading.humidity, reading.weight) == (35.2, 66.0, 38.45)
    status = link(alice_hive.hive)
    assert status.last_adapter == "thingspeak"
    assert "field4" in status.last_unmapped
    assert alice_hive.key not in status.last_payload

    later = client.post(
        f"/update.json?api_key={alice_hive.key}&field6=38.5&created_at={recent(0.5).isoformat()}"
    )
    assert later.json()["entry_id"] == 2


def test_update_text_get_and_post_answer_the_entry_id(client, alice_hive: DeviceHive) -> None:
    first = client.get(f"/update?api_key={alice_hive.key}&field1=34.0")
    assert first.status_code == 200
    assert first["Content-Type"].startswith("text/plain")
    assert first.content == b"1"
    second = client.post("/update", {"field6": "40.2"}, HTTP_THINGSPEAKAPIKEY=alice_hive.key)
    assert second.content == b"2"
    third = client.post("/update", {"api_key": alice_hive.key, "field3": 50}, format="json")
    assert third.content == b"3"
    assert len(stored(alice_hive.device_id)) == 3


def test_thingspeak_failure_answers_zero_and_is_recorded(client, alice_hive: DeviceHive) -> None:
    response = client.post(f"/update?api_key={alice_hive.key}&field1=warm")
    assert (response.status_code, response.content) == (200, b"0")
    response = client.post(f"/update.json?api_key={alice_hive.key}&field1=500")
    assert (response.status_code, response.json()) == (200, 0)
    assert stored(alice_hive.device_id) == []
    status = link(alice_hive.hive)
    assert "field1" in status.last_error
    assert status.entry_count == 0


def test_thingspeak_unknown_key_is_a_401_json(client, alice_hive: DeviceHive) -> None:
    for url in ("/update.json?api_key=nope&field1=30", "/update?field1=30"):
        response = client.post(url)
        assert response.status_code == 401
        assert response.json()["code"] == "invalid_device_key"
    assert stored(alice_hive.device_id) == []


def test_thingspeak_query_parameters_are_thingspeaks(client, alice_hive: DeviceHive) -> None:
    response = client.get(f"/update?api_key={alice_hive.key}&field9=1")
    assert response.status_code == 400
    assert "field9" in response.json()
