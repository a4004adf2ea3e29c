"""GET/PATCH /hives/{id}/device: what arrived (after success and after failure), the
field maps in force, how to connect; edits validated, for editors only; and the bulk
recorder the MQTT consumer uses."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from apiary.models import Membership, Role
from sensors.models import SensorLink
from sensors.selectors import field_maps_for
from sensors.services import DeviceActivity, device_activity_record
from tests.sensors.payloads import beep_body, recent
from tests.telemetry.conftest import DeviceHive, jwt_client, make_hive

pytestmark = pytest.mark.django_db(databases=["default", "telemetry"])


def device_url(hive: DeviceHive) -> str:
    return f"/hives/{hive.hive.pk}/device"


def test_a_hive_without_traffic_shows_defaults_and_how_to_connect(alice_client, alice_hive) -> None:
    response = alice_client.get(device_url(alice_hive))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["last_adapter"] is None and body["last_seen_at"] is None
    assert body["field_map"] is None
    assert body["field_maps"]["beep"]["t_i"] == {"metric": "temperature", "unit": "°C"}
    assert body["field_maps"]["thingspeak"]["field6"] == {"metric": "weight", "unit": "kg"}
    connect = body["connect"]
    assert connect["beep"]["url"] == "http://testserver/api/sensors"
    assert connect["thingspeak"]["url"] == "http://testserver/update.json"
    assert connect["ttn"]["url"] == "http://testserver/integrations/ttn/uplink"
    assert connect["telemetry"]["url"] == "http://testserver/telemetry"
    assert connect["mqtt"]["username"] == alice_hive.device_id
    assert connect["mqtt"]["topics"] == {
        "telemetry": f"beeapi/devices/{alice_hive.device_id}/readings",
        "kotori": f"beeapi/devices/{alice_hive.device_id}/data.json",
    }


def test_status_after_success_then_failure(alice_client, alice_hive) -> None:
    device = APIClient()
    device.post("/api/sensors", beep_body(alice_hive.key, at=recent(3)), format="json")
    ok = alice_client.get(device_url(alice_hive)).json()
    assert ok["last_adapter"] == "beep" and ok["last_error"] is None
    assert "t_i" in ok["last_mapped"] and "s_fan_4" in ok["last_unmapped"]
    assert '"t_i": 34.9' in ok["last_payload"] and alice_hive.key not in ok["last_payload"]

    device.post("/api/sensors", {"key": alice_hive.key, "t_i": "n/a"}, format="json")
    failed = alice_client.get(device_url(alice_hive)).json()
    assert failed["last_error"] == {"t_i": ["A number is required."]}
    assert failed["last_error_at"] is not None

    # A later success keeps the last error and its time, with a newer last_seen_at.
    device.post("/api/sensors", beep_body(alice_hive.key, at=recent(1)), format="json")
    later = alice_client.get(device_url(alice_hive)).json()
    assert later["last_error"] == failed["last_error"]
    assert later["last_seen_at"] > failed["last_error_at"]


def test_patch_sets_field_map_and_dev_eui(alice_client, alice_hive) -> None:
    response = alice_client.patch(
        device_url(alice_hive),
        {"field_map": {"w": "weight", "t": None}, "dev_eui": "70-b3-d5-7e-d0-00-00-0a"},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["dev_eui"] == "70B3D57ED000000A"
    assert body["field_map"] == {"w": {"metric": "weight", "unit": "kg"}, "t": None}
    assert (
        "t" not in body["field_maps"]["beep"]
        and body["field_maps"]["beep"]["w"]["metric"] == "weight"
    )
    cleared = alice_client.patch(
        device_url(alice_hive), {"field_map": None, "dev_eui": ""}, format="json"
    )
    assert cleared.json()["field_map"] is None and cleared.json()["dev_eui"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"field_map": {"x": {"metric": "pressure"}}}, "field_map"),
        ({"field_map": {"x": {"metric": "weight", "unit": "stone"}}}, "field_map"),
        ({"field_map": {"bv": {"metric": "battery", "unit": "%"}}}, "field_map"),
        ({"field_map": "weight"}, "field_map"),
        ({"dev_eui": "XYZ"}, "dev_eui"),
        ({"dev_eui": "0004A30B001C05"}, "dev_eui"),
        ({"dev_eui": 5}, "dev_eui"),
        ({"last_error": None}, "last_error"),
    ],
)
def test_patch_bad_input_names_the_field(alice_client, alice_hive, body: dict, field: str) -> None:
    response = alice_client.patch(device_url(alice_hive), body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert not SensorLink.objects.filter(hive=alice_hive.hive, field_map__isnull=False).exists()


def test_a_dev_eui_in_use_elsewhere_is_refused_without_saying_whose(
    alice_client, alice_hive, bob
) -> None:
    theirs = make_hive(bob, "bob-1")
    SensorLink.objects.create(hive=theirs.hive, dev_eui="0004A30B001C0530")
    response = alice_client.patch(
        device_url(alice_hive), {"dev_eui": "0004a30b001c0530"}, format="json"
    )
    assert response.status_code == 400
    message = response.json()["dev_eui"][0]
    assert "bob" not in message.lower() and str(theirs.hive.pk) not in message


def test_another_users_hive_is_a_404(bob_client, alice_hive) -> None:
    assert bob_client.get(device_url(alice_hive)).status_code == 404
    assert (
        bob_client.patch(device_url(alice_hive), {"dev_eui": None}, format="json").status_code
        == 404
    )
    assert APIClient().get(device_url(alice_hive)).status_code == 401


def test_a_viewer_reads_but_may_not_edit(alice_hive, bob) -> None:
    Membership.objects.create(apiary=alice_hive.hive.apiary, user=bob, role=Role.VIEWER)
    viewer = jwt_client(bob)
    assert viewer.get(device_url(alice_hive)).status_code == 200
    response = viewer.patch(device_url(alice_hive), {"dev_eui": None}, format="json")
    assert response.status_code == 403
    Membership.objects.filter(user=bob).update(role=Role.EDITOR)
    assert viewer.patch(device_url(alice_hive), {"dev_eui": None}, format="json").status_code == 200


def test_bulk_record_is_one_statement_for_many_devices(alice) -> None:
    hives = [make_hive(alice, f"bulk-{n}") for n in range(5)]
    at = recent(1)
    records = [
        DeviceActivity(h.device_id, "kotori", at, '{"weight": 1}', ["weight"], [], None)
        for h in hives
    ]
    records.append(
        DeviceActivity(
            "bulk-0", "kotori", at - timedelta(seconds=30), "{}", [], [], {"weight": ["bad"]}
        )
    )
    records.append(DeviceActivity("no-such-device", "kotori", at, "{}", [], [], None))
    with CaptureQueriesContext(connection) as queries:
        device_activity_record(records=records)
    assert len([q for q in queries.captured_queries if "sensors_sensorlink" in q["sql"]]) == 1
    first = SensorLink.objects.get(hive=hives[0].hive)
    assert first.last_mapped == ["weight"] and first.last_error == {"weight": ["bad"]}
    assert SensorLink.objects.count() == 5
    # An older record changes nothing.
    device_activity_record(
        records=[DeviceActivity("bulk-1", "beep", at - timedelta(hours=1), "{}", [], [], None)]
    )
    assert SensorLink.objects.get(hive=hives[1].hive).last_adapter == "kotori"


def test_field_maps_for_devices_in_one_query(alice) -> None:
    one, two = make_hive(alice, "fm-1"), make_hive(alice, "fm-2")
    SensorLink.objects.create(hive=one.hive, field_map={"w": {"metric": "weight", "unit": "g"}})
    with CaptureQueriesContext(connection) as queries:
        maps = field_maps_for(device_ids=["fm-1", "fm-2", "nope"])
    assert len(queries.captured_queries) == 1
    assert maps == {"fm-1": {"w": {"metric": "weight", "unit": "g"}}, "fm-2": None, "nope": None}
    assert two.device_id == "fm-2"


def test_the_status_says_whether_the_broker_has_the_devices_client(
    mqtt_on, alice, alice_apiary, as_alice, django_capture_on_commit_callbacks
) -> None:
    from apiary.services import hive_create
    from sensors import broker

    with django_capture_on_commit_callbacks(execute=True):  # the client is made on commit
        hive, _ = hive_create(actor=alice, apiary=alice_apiary, name="MQTT", device_id="mqtt-st-1")
    mqtt = as_alice.get(f"/hives/{hive.pk}/device").json()["connect"]["mqtt"]
    assert (mqtt["client"], mqtt["broker"], mqtt["username"]) == (True, mqtt_on.url, "mqtt-st-1")
    broker.device_client_delete(device_id="mqtt-st-1")
    mqtt = as_alice.get(f"/hives/{hive.pk}/device").json()["connect"]["mqtt"]
    assert mqtt["client"] is False  # replacing the key gives it one again


def test_with_mqtt_off_the_status_names_no_broker(alice_client, alice_hive) -> None:
    mqtt = alice_client.get(device_url(alice_hive)).json()["connect"]["mqtt"]
    assert (mqtt["client"], mqtt["broker"]) == (None, None)
