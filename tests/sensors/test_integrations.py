"""The Things Network v3: integrations (a key shown once, only the owner's) and the
uplink webhook, which writes only the key owner's own hives."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from apiary.models import Membership, Role
from sensors.models import Integration, SensorLink
from tests.sensors.conftest import link, stored
from tests.sensors.payloads import recent, ttn_uplink
from tests.telemetry.conftest import DeviceHive, make_hive

pytestmark = pytest.mark.django_db(databases=["default", "telemetry"])


def new_key(client: APIClient, name: str = "my TTN app") -> dict:
    response = client.post("/integrations", {"kind": "ttn", "name": name}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def uplink(key: str, message: dict) -> object:
    client = APIClient()
    return client.post(
        "/integrations/ttn/uplink", message, format="json", HTTP_AUTHORIZATION=f"Bearer {key}"
    )


def test_create_shows_the_key_once_and_lists_without_it(alice_client) -> None:
    created = new_key(alice_client)
    assert set(created) == {"id", "kind", "name", "key", "created_at"}
    assert created["key"].startswith("bi_")
    stored_row = Integration.objects.get(pk=created["id"])
    assert created["key"] not in stored_row.key_hash
    listed = alice_client.get("/integrations").json()
    assert listed["count"] == 1
    assert "key" not in listed["results"][0] and "key_hash" not in listed["results"][0]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "mqtt"}, "kind"),
        ({}, "kind"),
        ({"kind": "ttn", "name": "x" * 101}, "name"),
        ({"kind": "ttn", "key": "mine"}, "key"),
    ],
)
def test_create_bad_input_names_the_field(alice_client, body: dict, field: str) -> None:
    response = alice_client.post("/integrations", body, format="json")
    assert response.status_code == 400
    assert field in response.json()


def test_another_users_integration_is_hidden(alice_client, bob_client) -> None:
    created = new_key(alice_client)
    assert bob_client.get("/integrations").json()["count"] == 0
    assert bob_client.delete(f"/integrations/{created['id']}").status_code == 404
    assert bob_client.post(f"/integrations/{created['id']}/key").status_code == 404
    assert Integration.objects.filter(pk=created["id"]).exists()


def test_anonymous_is_a_401(alice) -> None:
    assert APIClient().get("/integrations").status_code == 401


def test_uplink_stores_decoded_values_and_the_status(alice_client, alice) -> None:
    hive = make_hive(alice, "dev1")
    key = new_key(alice_client)["key"]
    at = recent(2).replace(microsecond=0)
    response = uplink(key, ttn_uplink(device_id="dev1", at=at))
    assert response.status_code == 201, response.content
    assert response.json()["accepted"] == 1
    assert "decoded_payload.bytes" in response.json()["unmapped"]
    [reading] = stored("dev1")
    assert reading.time == at
    assert (reading.weight, reading.temperature, reading.humidity) == (42.5, 34.8, 61.0)
    status = link(hive.hive)
    assert status.last_adapter == "ttn" and status.last_error is None
    assert Integration.objects.get().last_used_at is not None
    # A webhook retry of the same uplink is a duplicate.
    again = uplink(key, ttn_uplink(device_id="dev1", at=at))
    assert (again.status_code, again.json()["duplicates"]) == (200, 1)


def test_uplink_finds_the_hive_by_dev_eui(alice_client, alice) -> None:
    hive = make_hive(alice, "hive-by-eui")
    alice_client.patch(
        f"/hives/{hive.hive.pk}/device", {"dev_eui": "70b3d57ed0000001"}, format="json"
    )
    key = new_key(alice_client)["key"]
    response = uplink(key, ttn_uplink(device_id="ttn-name", dev_eui="70B3D57ED0000001", weight=40))
    assert response.status_code == 201, response.content
    assert stored("hive-by-eui")[0].weight == 40.0


def test_uplink_for_another_users_hive_is_a_404_like_none(alice_client, alice, bob) -> None:
    theirs = make_hive(bob, "bobs-hive")
    SensorLink.objects.create(hive=theirs.hive, dev_eui="70B3D57ED0000002")
    key = new_key(alice_client)["key"]
    by_id = uplink(key, ttn_uplink(device_id="bobs-hive", dev_eui=None))
    by_eui = uplink(key, ttn_uplink(device_id="x", dev_eui="70B3D57ED0000002"))
    missing = uplink(key, ttn_uplink(device_id="nobody", dev_eui=None))
    assert by_id.status_code == by_eui.status_code == missing.status_code == 404
    assert by_id.json() == by_eui.json() == missing.json()
    assert stored("bobs-hive") == []


def test_uplink_for_a_shared_hive_is_refused(alice_client, alice, bob) -> None:
    # bob edits alice's apiary; his integration still writes only hives he owns.
    hive = make_hive(alice, "shared-hive")
    Membership.objects.create(apiary=hive.hive.apiary, user=bob, role=Role.EDITOR)
    from tests.telemetry.conftest import jwt_client

    key = new_key(jwt_client(bob))["key"]
    assert uplink(key, ttn_uplink(device_id="shared-hive", dev_eui=None)).status_code == 404
    assert stored("shared-hive") == []


@pytest.mark.parametrize("header", ["", "Bearer ", "Bearer bi_wrong", "Basic abc"])
def test_uplink_with_a_bad_key_is_a_401_json(alice, header: str) -> None:
    make_hive(alice, "dev1")
    response = APIClient().post(
        "/integrations/ttn/uplink", ttn_uplink(), format="json", HTTP_AUTHORIZATION=header
    )
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_integration_key"
    assert stored("dev1") == []


def test_a_replaced_key_stops_at_once_and_a_deleted_one_too(alice_client, alice) -> None:
    make_hive(alice, "dev1")
    created = new_key(alice_client)
    replaced = alice_client.post(f"/integrations/{created['id']}/key")
    assert replaced.status_code == 200
    assert replaced.json()["key"] != created["key"]
    assert uplink(created["key"], ttn_uplink()).status_code == 401
    assert uplink(replaced.json()["key"], ttn_uplink()).status_code == 201
    assert alice_client.delete(f"/integrations/{created['id']}").status_code == 204
    assert uplink(replaced.json()["key"], ttn_uplink(at=recent(4))).status_code == 401


def test_uplink_without_decoded_payload_asks_for_a_formatter(alice_client, alice) -> None:
    hive = make_hive(alice, "dev1")
    key = new_key(alice_client)["key"]
    message = ttn_uplink()
    del message["uplink_message"]["decoded_payload"]
    response = uplink(key, message)
    assert response.status_code == 400
    assert "payload formatter" in response.json()["uplink_message.decoded_payload"][0]
    assert stored("dev1") == []
    assert "uplink_message.decoded_payload" in link(hive.hive).last_error


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda m: m["uplink_message"]["decoded_payload"].update(t_i="hot"), "decoded_payload.t_i"),
        (
            lambda m: m["uplink_message"]["decoded_payload"].update(weight_kg=900),
            "decoded_payload.weight_kg",
        ),
        (lambda m: m["uplink_message"].update(received_at="2001-01-01T00:00:00Z"), "received_at"),
        (lambda m: m.pop("end_device_ids"), "end_device_ids"),
    ],
)
def test_uplink_bad_input_names_the_field_and_stores_nothing(
    alice_client, alice, change, field: str
) -> None:
    make_hive(alice, "dev1")
    key = new_key(alice_client)["key"]
    message = ttn_uplink()
    change(message)
    response = uplink(key, message)
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert stored("dev1") == []


def test_other_message_types_are_refused(alice_client, alice) -> None:
    make_hive(alice, "dev1")
    key = new_key(alice_client)["key"]
    join = {"end_device_ids": {"device_id": "dev1"}, "join_accept": {"session_key_id": "x"}}
    response = uplink(key, join)
    assert response.status_code == 400
    assert "join_accept" in response.json()["uplink_message"][0]


def test_a_device_hive_stores_for_the_right_device(alice_client, alice) -> None:
    first: DeviceHive = make_hive(alice, "dev1")
    make_hive(alice, "dev2")
    key = new_key(alice_client)["key"]
    uplink(key, ttn_uplink(device_id="dev2", dev_eui=None))
    assert stored("dev1") == [] and len(stored("dev2")) == 1
    assert not SensorLink.objects.filter(hive=first.hive).exists()


def test_a_deactivated_accounts_integration_key_stops(alice_client, alice) -> None:
    make_hive(alice, "dev1")
    created = new_key(alice_client)
    alice.is_active = False
    alice.save(update_fields=["is_active"])
    response = uplink(created["key"], ttn_uplink())
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_integration_key"
    assert stored("dev1") == []
