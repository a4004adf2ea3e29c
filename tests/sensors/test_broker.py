"""The MQTT broker's device clients follow the device keys, against a real Mosquitto with
the dynamic-security plugin: a hive's device connects with (device_id, key) and publishes
to its own topics only; a replaced key or a deleted hive stops working at the broker; a
broker that is down refuses revocations (503, nothing changed) but not hive creations;
mqtt_ingest's login reads every device's messages through one shared subscription."""

from __future__ import annotations

import os
import queue
import signal
import time
import uuid
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client as DjangoClient

from apiary.device_keys import device_key_hash
from apiary.models import Hive
from sensors import broker
from tests.factories import HiveFactory
from tests.sensors.conftest import WAIT, BrokerInfo, ingest_client

pytestmark = pytest.mark.django_db(databases=["default", "telemetry"])


def new_device_id() -> str:
    # The run's broker is shared by every test: ids of their own keep them apart.
    return f"mq-{uuid.uuid4().hex[:10]}"


def create_hive(client: Any, apiary: Any, capture: Any, device_id: str | None = None) -> tuple:
    """POST /hives as the apiary's owner, with its on-commit work (the broker's client)
    done as after a real commit. Returns (response, device_id, key)."""
    device_id = device_id or new_device_id()
    with capture(execute=True):
        response = client.post(
            "/hives", {"apiary": apiary.id, "name": f"H {device_id}", "device_id": device_id}
        )
    assert response.status_code == 201, response.content
    return response, device_id, response.json()["device_key"]


def readings(device_id: str) -> str:
    return f"beeapi/devices/{device_id}/readings"


def assert_refused(make: Any, info: BrokerInfo, username: str, password: str) -> None:
    assert make(info, username, password).connect().is_failure


# --- Devices --------------------------------------------------------------------------


def test_a_created_hives_device_connects_with_its_key_and_publishes_its_readings(
    mqtt_on: BrokerInfo, as_alice, alice_apiary, mqtt_client, django_capture_on_commit_callbacks
) -> None:
    _, device_id, key = create_hive(as_alice, alice_apiary, django_capture_on_commit_callbacks)
    ingest = ingest_client(mqtt_client, mqtt_on)
    device = mqtt_client(mqtt_on, device_id, key)

    assert not device.connect().is_failure
    assert not device.publish(readings(device_id), '{"weight": 41.5}').is_failure
    assert not device.publish(f"beeapi/devices/{device_id}/data.json", "{}").is_failure

    first = ingest.messages.get(timeout=WAIT)
    assert (first.topic, first.payload, first.qos) == (readings(device_id), b'{"weight": 41.5}', 1)
    assert ingest.messages.get(timeout=WAIT).topic.endswith(f"/{device_id}/data.json")
    assert device_id in broker.device_clients()
    assert_refused(mqtt_client, mqtt_on, device_id, "bk_not-the-key")


def test_a_device_publishes_to_no_other_topic_and_subscribes_to_nothing(
    mqtt_on: BrokerInfo, as_alice, alice_apiary, mqtt_client, django_capture_on_commit_callbacks
) -> None:
    _, mine, key = create_hive(as_alice, alice_apiary, django_capture_on_commit_callbacks)
    _, other, _ = create_hive(as_alice, alice_apiary, django_capture_on_commit_callbacks)
    ingest = ingest_client(mqtt_client, mqtt_on)
    device = mqtt_client(mqtt_on, mine, key)
    assert not device.connect().is_failure

    for topic in (
        readings(other),  # another device's
        f"beeapi/devices/{mine}/other",
        f"beeapi/devices/{mine}",
        "beeapi/anything",
        "$CONTROL/dynamic-security/v1",  # the admin's API
    ):
        assert device.publish(topic, '{"forged": true}').getName() == "Not authorized", topic
    for topic in (
        "#",
        readings(mine),
        readings(other),
        broker.INGEST_SUBSCRIPTION,
        "$CONTROL/dynamic-security/v1/response",
        "$SYS/#",
    ):
        assert device.subscribe(topic).is_failure, topic

    # Messages keep their order: once the allowed one arrives, the forged ones never will.
    assert not device.publish(readings(mine), '{"real": true}').is_failure
    message = ingest.messages.get(timeout=WAIT)
    assert (message.topic, message.payload) == (readings(mine), b'{"real": true}')
    assert ingest.messages.empty()


def test_a_replaced_key_is_refused_at_the_broker_and_the_new_one_works(
    mqtt_on: BrokerInfo, as_alice, alice_apiary, mqtt_client, django_capture_on_commit_callbacks
) -> None:
    response, device_id, old_key = create_hive(
        as_alice, alice_apiary, django_capture_on_commit_callbacks
    )
    connected = mqtt_client(mqtt_on, device_id, old_key)
    assert not connected.connect().is_failure

    with django_capture_on_commit_callbacks(execute=True):
        replaced = as_alice.post(f"/hives/{response.json()['id']}/device-key")
    assert replaced.status_code == 201
    new_key = replaced.json()["device_key"]

    assert connected.disconnected.wait(WAIT)  # the open connection is closed too
    assert_refused(mqtt_client, mqtt_on, device_id, old_key)
    device = mqtt_client(mqtt_on, device_id, new_key)
    assert not device.connect().is_failure
    assert not device.publish(readings(device_id)).is_failure


def test_a_deleted_hives_client_is_gone(
    mqtt_on: BrokerInfo, as_alice, alice_apiary, mqtt_client, django_capture_on_commit_callbacks
) -> None:
    response, device_id, key = create_hive(
        as_alice, alice_apiary, django_capture_on_commit_callbacks
    )
    connected = mqtt_client(mqtt_on, device_id, key)
    assert not connected.connect().is_failure

    assert as_alice.delete(f"/hives/{response.json()['id']}").status_code == 204

    assert connected.disconnected.wait(WAIT)
    assert device_id not in broker.device_clients()
    assert_refused(mqtt_client, mqtt_on, device_id, key)


def test_a_changed_device_id_loses_the_old_client(
    mqtt_on: BrokerInfo, as_alice, alice_apiary, mqtt_client, django_capture_on_commit_callbacks
) -> None:
    response, device_id, key = create_hive(
        as_alice, alice_apiary, django_capture_on_commit_callbacks
    )
    renamed = new_device_id()
    update = as_alice.patch(f"/hives/{response.json()['id']}", {"device_id": renamed})
    assert update.status_code == 200, update.content

    clients = broker.device_clients()
    assert device_id not in clients and renamed not in clients  # a new key makes it
    assert_refused(mqtt_client, mqtt_on, device_id, key)


def test_a_device_id_naming_beeapis_own_logins_takes_none_of_them(
    mqtt_on: BrokerInfo, as_alice, alice_apiary, mqtt_client, django_capture_on_commit_callbacks
) -> None:
    """device_id is the device's username: a hive named after the ingest or admin login
    must neither change nor delete that login."""
    for reserved in (broker.INGEST_USERNAME, mqtt_on.admin_username):
        response, _, key = create_hive(
            as_alice, alice_apiary, django_capture_on_commit_callbacks, device_id=reserved
        )
        assert_refused(mqtt_client, mqtt_on, reserved, key)
        assert as_alice.delete(f"/hives/{response.json()['id']}").status_code == 204
    ingest_client(mqtt_client, mqtt_on)  # its login and subscription still work
    assert broker.broker_status()["reachable"]  # so does the admin's


# --- The ingest login -----------------------------------------------------------------


def test_ingest_subscribes_through_the_shared_subscription_and_gets_qos_1_messages(
    mqtt_on: BrokerInfo, alice_apiary, mqtt_client
) -> None:
    device_id, key = new_device_id(), "bk_test-key-of-a-device"
    broker.device_client_set(device_id=device_id, key=key)
    params = broker.ingest_connect_params()
    assert (params.host, params.port, params.username) == (
        mqtt_on.host,
        mqtt_on.port,
        broker.INGEST_USERNAME,
    )
    assert params.subscription == "$share/beeapi/beeapi/devices/+/+"
    assert params.password not in repr(params)
    # Two ingest processes share the subscription: each message reaches one of them.
    first, second = ingest_client(mqtt_client, mqtt_on), ingest_client(mqtt_client, mqtt_on)
    # The ingest login reads only through the shared subscription, and sends nothing.
    assert first.subscribe("beeapi/devices/+/+").is_failure
    assert first.subscribe("#").is_failure
    assert first.publish(readings(device_id)).getName() == "Not authorized"

    device = mqtt_client(mqtt_on, device_id, key)
    assert not device.connect().is_failure
    for n in range(4):
        assert not device.publish(readings(device_id), f'{{"n": {n}}}').is_failure

    received = []
    deadline = time.monotonic() + WAIT
    while len(received) < 4 and time.monotonic() < deadline:
        for ingest in (first, second):
            try:
                received.append(ingest.messages.get(timeout=0.05))
            except queue.Empty:
                pass
    assert sorted(m.payload for m in received) == [f'{{"n": {n}}}'.encode() for n in range(4)]
    assert {m.qos for m in received} == {1}
    assert first.messages.empty() and second.messages.empty()


def test_broker_setup_is_idempotent_and_keeps_a_connected_ingest_client(
    mqtt_on: BrokerInfo, mqtt_client
) -> None:
    ingest = ingest_client(mqtt_client, mqtt_on)
    broker.broker_setup()
    broker.broker_setup()
    assert not ingest.disconnected.is_set()


# --- A broker that is down ------------------------------------------------------------


def test_with_the_broker_stopped_revocations_are_503_and_change_nothing(
    mqtt_on_own: BrokerInfo, as_alice, alice_apiary, mqtt_client, django_capture_on_commit_callbacks
) -> None:
    response, device_id, key = create_hive(
        as_alice, alice_apiary, django_capture_on_commit_callbacks
    )
    hive_id = response.json()["id"]
    assert mqtt_on_own.local is not None
    mqtt_on_own.local.stop()  # terminated: the port refuses connections

    replaced = as_alice.post(f"/hives/{hive_id}/device-key")
    assert replaced.status_code == 503
    assert replaced.json()["detail"].startswith("Nothing was changed: the MQTT broker")
    assert Hive.objects.get(pk=hive_id).device_key_hash == device_key_hash(key)

    deleted = as_alice.delete(f"/hives/{hive_id}")
    assert deleted.status_code == 503
    assert device_id in deleted.json()["detail"]
    assert Hive.objects.filter(pk=hive_id).exists()

    # A creation is not a revocation: it succeeds, without a client (mqtt_setup names it).
    _, created, _ = create_hive(as_alice, alice_apiary, django_capture_on_commit_callbacks)
    assert Hive.objects.filter(device_id=created).exists()

    mqtt_on_own.local.restart()
    device = mqtt_client(mqtt_on_own, device_id, key)  # the old key still works there
    assert not device.connect().is_failure
    assert set(broker.device_clients()) == {device_id}


def test_with_the_broker_killed_mid_connection_a_replacement_is_503(
    mqtt_on_own: BrokerInfo, as_alice, alice_apiary, django_capture_on_commit_callbacks
) -> None:
    """The admin connection is open when the broker dies (SIGKILL, no goodbye)."""
    response, _, key = create_hive(as_alice, alice_apiary, django_capture_on_commit_callbacks)
    assert broker.broker_status()["reachable"]  # the admin connection is up
    assert mqtt_on_own.local is not None
    mqtt_on_own.local.kill()

    replaced = as_alice.post(f"/hives/{response.json()['id']}/device-key")

    assert replaced.status_code == 503
    assert Hive.objects.get(pk=response.json()["id"]).device_key_hash == device_key_hash(key)


def test_a_broker_that_does_not_answer_fails_a_replacement_within_the_timeout(
    mqtt_on_own: BrokerInfo, as_alice, alice_apiary, django_capture_on_commit_callbacks
) -> None:
    response, _, key = create_hive(as_alice, alice_apiary, django_capture_on_commit_callbacks)
    assert mqtt_on_own.local is not None and mqtt_on_own.local.proc is not None
    pid = mqtt_on_own.local.proc.pid
    os.kill(pid, signal.SIGSTOP)  # hung: connections stay open, nothing answers
    try:
        replaced = as_alice.post(f"/hives/{response.json()['id']}/device-key")
    finally:
        os.kill(pid, signal.SIGCONT)
    assert replaced.status_code == 503
    assert Hive.objects.get(pk=response.json()["id"]).device_key_hash == device_key_hash(key)


def test_the_admin_says_why_when_the_broker_is_down(
    mqtt_on_own: BrokerInfo, alice, alice_apiary, django_capture_on_commit_callbacks
) -> None:
    hive = HiveFactory(apiary=alice_apiary, device_id=new_device_id())
    admin = DjangoClient()
    admin.force_login(alice)
    assert mqtt_on_own.local is not None
    mqtt_on_own.local.stop()

    for url in (
        f"/admin/apiary/hive/{hive.pk}/device-key/",
        f"/admin/apiary/hive/{hive.pk}/delete/",
    ):
        response = admin.post(url, {"post": "yes"}, follow=True)
        assert response.status_code == 200, url
        assert "Nothing was changed: the MQTT broker" in response.content.decode(), url
    hive.refresh_from_db()
    assert hive.device_key_hash == device_key_hash(f"device-key-{hive.device_id}")


def test_deleting_an_account_in_the_admin_while_the_broker_is_down_is_a_503(
    mqtt_on_own: BrokerInfo, alice_apiary
) -> None:
    from tests.accounts.factories import SuperuserFactory

    hive = HiveFactory(apiary=alice_apiary, device_id=new_device_id())
    owner = alice_apiary.owner
    admin = DjangoClient()
    admin.force_login(SuperuserFactory())
    assert mqtt_on_own.local is not None
    mqtt_on_own.local.stop()

    response = admin.post(f"/admin/accounts/user/{owner.pk}/delete/", {"post": "yes"})

    assert response.status_code == 503, response.content[:300]
    assert response.json()["code"] == "mqtt_unavailable"
    assert Hive.objects.filter(pk=hive.pk).exists()


# --- Health and mqtt_setup ------------------------------------------------------------


def test_health_reports_the_broker_without_credentials(
    mqtt_on_own: BrokerInfo, anonymous, settings
) -> None:
    response = anonymous.get("/health")
    assert response.json()["mqtt"] == {
        "reachable": True,
        "host": mqtt_on_own.host,
        "port": mqtt_on_own.port,
    }
    assert mqtt_on_own.admin_password not in response.content.decode()
    assert broker.ingest_password() not in response.content.decode()

    assert mqtt_on_own.local is not None
    mqtt_on_own.local.stop()
    down = anonymous.get("/health")
    assert down.status_code == 200  # the databases decide the status, not the broker
    assert down.json()["mqtt"]["reachable"] is False

    settings.MQTT_URL = ""
    assert anonymous.get("/health").json()["mqtt"] == {"configured": False}


def test_dbstatus_prints_the_broker(mqtt_on_own: BrokerInfo) -> None:
    out = StringIO()
    call_command("dbstatus", stdout=out)
    assert f"MQTT broker {mqtt_on_own.host}:{mqtt_on_own.port}: reachable" in out.getvalue()
    assert mqtt_on_own.admin_password not in out.getvalue()


def test_mqtt_setup_removes_stray_clients_and_names_hives_without_one(
    mqtt_on_own: BrokerInfo, alice_apiary, mqtt_client
) -> None:
    kept = HiveFactory(apiary=alice_apiary, device_id=new_device_id())
    broker.device_client_set(device_id=kept.device_id, key="bk_kept")
    without = HiveFactory(apiary=alice_apiary, device_id=new_device_id())
    broker.device_client_set(device_id="stray-device", key="bk_stray")

    out = StringIO()
    call_command("mqtt_setup", stdout=out)

    assert broker.device_clients() == [kept.device_id]
    assert_refused(mqtt_client, mqtt_on_own, "stray-device", "bk_stray")
    assert "removed the client of stray-device" in out.getvalue()
    assert without.device_id in out.getvalue()
    assert kept.device_id not in out.getvalue()
    assert mqtt_on_own.admin_password not in out.getvalue()


def test_mqtt_setup_refuses_without_mqtt(settings) -> None:
    from django.core.management.base import CommandError

    settings.MQTT_URL = ""
    with pytest.raises(CommandError, match="MQTT is off"):
        call_command("mqtt_setup")


def test_without_mqtt_hives_change_without_a_broker(
    settings, as_alice, alice_apiary, django_capture_on_commit_callbacks
) -> None:
    settings.MQTT_URL = ""
    response, _, _ = create_hive(as_alice, alice_apiary, django_capture_on_commit_callbacks)
    hive_id = response.json()["id"]
    assert as_alice.post(f"/hives/{hive_id}/device-key").status_code == 201
    assert as_alice.delete(f"/hives/{hive_id}").status_code == 204


def test_a_refused_admin_login_is_a_503_not_a_500(
    mqtt_on_own: BrokerInfo, settings, as_alice, alice_apiary, django_capture_on_commit_callbacks
) -> None:
    response, _, key = create_hive(as_alice, alice_apiary, django_capture_on_commit_callbacks)
    settings.MQTT_ADMIN_PASSWORD = "not-the-admin-password"

    assert broker.broker_status()["reachable"] is False
    replaced = as_alice.post(f"/hives/{response.json()['id']}/device-key")

    assert replaced.status_code == 503
    assert Hive.objects.get(pk=response.json()["id"]).device_key_hash == device_key_hash(key)


def test_topic_parse_names_the_device_and_the_kind() -> None:
    assert broker.topic_parse("beeapi/devices/gw-7/readings") == ("gw-7", "readings")
    assert broker.topic_parse("beeapi/devices/gw.7:a/data.json") == ("gw.7:a", "data.json")
    for topic in (
        "beeapi/devices/gw-7/other",
        "beeapi/devices//readings",
        "beeapi/devices/gw-7",
        "x/beeapi/devices/gw-7/readings",
        "beeapi/devices/gw-7/readings/more",
    ):
        assert broker.topic_parse(topic) is None, topic
    assert broker.device_topics("gw-7") == [
        "beeapi/devices/gw-7/readings",
        "beeapi/devices/gw-7/data.json",
    ]
