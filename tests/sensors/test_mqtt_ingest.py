"""``manage.py mqtt_ingest`` against the real broker and real processes: devices publish
with their own credentials, the consumer stores their readings, and a consumer killed
with SIGKILL mid-stream loses nothing and stores nothing twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from django.db import connections

from apiary.models import Apiary
from apiary.services import hive_create
from sensors.models import SensorLink
from telemetry.models import Reading
from telemetry.validation import iso_time
from tests.factories import BeekeeperFactory
from tests.servers import ROOT, database_url

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "telemetry"])


@contextmanager
def ingest_process(info: Any, log: Path, client_id: str, *args: str) -> Iterator[subprocess.Popen]:
    """``manage.py mqtt_ingest`` on the test databases and broker, started and connected."""
    env = {
        **os.environ,
        # beeapi.settings: the test settings turn MQTT off for the in-process suite.
        "DJANGO_SETTINGS_MODULE": "beeapi.settings",
        "DEBUG": "true",
        "POSTGRES_URL": database_url("default"),
        "TIMESCALE_URL": database_url("telemetry"),
        "MQTT_URL": info.url,
        "MQTT_ADMIN_USERNAME": info.admin_username,
        "MQTT_ADMIN_PASSWORD": info.admin_password,
        "REDIS_URL": "",
    }
    before = log.read_text().count("subscribed") if log.exists() else 0
    with log.open("a") as out:
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "mqtt_ingest", "--client-id", client_id, *args],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while log.read_text().count("subscribed") <= before:
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)


def _count(device_id: str) -> int:
    with connections["telemetry"].cursor() as cursor:
        cursor.execute("SELECT count(*) FROM readings WHERE device_id = %s", [device_id])
        return cursor.fetchone()[0]


def _wait_for(predicate: Any, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def _device(owner: Any, device_id: str) -> tuple[Any, str]:
    apiary = Apiary.objects.create(owner=owner, name=f"Yard of {device_id}")
    hive, key = hive_create(actor=owner, apiary=apiary, name=device_id, device_id=device_id)
    assert key is not None
    return hive, key


def _publisher(info: Any, device_id: str, key: str) -> Any:
    from paho.mqtt.client import CallbackAPIVersion, Client, MQTTv5

    client = Client(CallbackAPIVersion.VERSION2, client_id=f"dev-{device_id}", protocol=MQTTv5)
    client.username_pw_set(device_id, key)
    client.max_inflight_messages_set(100)
    client.connect(info.host, info.port)
    client.loop_start()
    return client


def test_readings_and_kotori_payloads_are_stored_and_bad_ones_recorded(
    mqtt_on: Any, tmp_path: Path
) -> None:
    owner: Any = BeekeeperFactory()
    hive, key = _device(owner, "mqtt-dev-1")
    other, _ = _device(BeekeeperFactory(), "mqtt-dev-2")
    now = datetime.now(UTC).replace(microsecond=0)
    with ingest_process(mqtt_on, tmp_path / "ingest.log", "test-ingest-store"):
        client = _publisher(mqtt_on, "mqtt-dev-1", key)
        readings = {
            "readings": [{"time": iso_time(now - timedelta(minutes=2)), "temperature": 34.5}]
        }
        infos = [
            client.publish("beeapi/devices/mqtt-dev-1/readings", orjson.dumps(readings), qos=1),
            # Hiveeyes/Kotori's flat data.json: keys mapped by the default field map.
            client.publish(
                "beeapi/devices/mqtt-dev-1/data.json",
                orjson.dumps({"weight": 41.25, "humidity": 61, "colour": "blue"}),
                qos=1,
            ),
            # Malformed: dropped and recorded, never blocking the others.
            client.publish("beeapi/devices/mqtt-dev-1/readings", b"{not json", qos=1),
            # Another device's topic: the broker refuses it (the ACL), nothing arrives.
            client.publish(
                "beeapi/devices/mqtt-dev-2/readings",
                orjson.dumps({"time": iso_time(now), "temperature": 30.0}),
                qos=1,
            ),
        ]
        for info in infos:
            info.wait_for_publish(timeout=10)
        assert _wait_for(lambda: _count("mqtt-dev-1") == 2, timeout=30), (
            tmp_path / "ingest.log"
        ).read_text()
        assert _wait_for(
            lambda: SensorLink.objects.filter(hive=hive, last_error__isnull=False).exists(), 15
        )
        client.disconnect()
    stored = list(Reading.objects.filter(device_id="mqtt-dev-1").order_by("time"))
    assert [r.temperature for r in stored] == [34.5, None]
    assert (stored[1].weight, stored[1].humidity) == (41.25, 61.0)
    assert _count("mqtt-dev-2") == 0
    link = SensorLink.objects.get(hive=hive)
    assert "Malformed JSON" in orjson.dumps(link.last_error).decode()


def test_a_consumer_killed_mid_stream_loses_nothing_and_stores_nothing_twice(
    mqtt_on: Any, tmp_path: Path
) -> None:
    owner: Any = BeekeeperFactory()
    _, key = _device(owner, "mqtt-kill-1")
    total = 3000
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    log = tmp_path / "ingest.log"
    client_id = "test-ingest-kill"
    published = threading.Event()

    def publish_all() -> None:
        client = _publisher(mqtt_on, "mqtt-kill-1", key)
        infos = [
            client.publish(
                "beeapi/devices/mqtt-kill-1/readings",
                orjson.dumps(
                    {"time": iso_time(start + timedelta(seconds=n)), "weight": 40 + n / 1000}
                ),
                qos=1,
            )
            for n in range(total)
        ]
        for info in infos:
            info.wait_for_publish(timeout=60)
        client.disconnect()
        published.set()

    # Small batches, so the kill lands between commits and acknowledgements.
    with ingest_process(mqtt_on, log, client_id, "--batch-size", "20") as proc:
        publisher = threading.Thread(target=publish_all, daemon=True)
        publisher.start()
        assert _wait_for(lambda: _count("mqtt-kill-1") >= 300, timeout=60), log.read_text()
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    killed_at = _count("mqtt-kill-1")
    assert killed_at < total, "the consumer finished before it was killed: nothing was tested"
    assert published.wait(60)
    # The same client id resumes the session: the broker delivers what was never acknowledged.
    with ingest_process(mqtt_on, log, client_id, "--batch-size", "20"):
        assert _wait_for(lambda: _count("mqtt-kill-1") == total, timeout=90), (
            f"{_count('mqtt-kill-1')} of {total} stored; killed at {killed_at}\n{log.read_text()[-3000:]}"
            f"\n{list(SensorLink.objects.values_list('last_error', 'last_payload'))}"
        )
        time.sleep(1.0)  # anything redelivered twice would land now
    assert _count("mqtt-kill-1") == total
    with connections["telemetry"].cursor() as cursor:
        cursor.execute(
            "SELECT count(DISTINCT time), min(time), max(time) FROM readings WHERE device_id = %s",
            ["mqtt-kill-1"],
        )
        distinct, first, last = cursor.fetchone()
    assert (distinct, first, last) == (total, start, start + timedelta(seconds=total - 1))


def test_mqtt_ingest_refuses_to_start_without_a_broker(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "beeapi.settings_test",
        "DEBUG": "true",
        "MQTT_URL": "",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "mqtt_ingest"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "MQTT is off: set MQTT_URL" in result.stderr


def test_a_stopped_consumer_leaves_the_shared_subscription(mqtt_on: Any, tmp_path: Path) -> None:
    # Mosquitto hands a shared subscription's messages to offline sessions too: a consumer
    # scaled down with its session kept would hold back half of them.
    owner: Any = BeekeeperFactory()
    _, key = _device(owner, "mqtt-scale-1")
    with ingest_process(mqtt_on, tmp_path / "a.log", "test-ingest-scaled-down"):
        pass  # started, subscribed, stopped with SIGTERM
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    with ingest_process(mqtt_on, tmp_path / "b.log", "test-ingest-remaining"):
        client = _publisher(mqtt_on, "mqtt-scale-1", key)
        infos = [
            client.publish(
                "beeapi/devices/mqtt-scale-1/readings",
                orjson.dumps({"time": iso_time(start + timedelta(seconds=n)), "weight": 40.0}),
                qos=1,
            )
            for n in range(200)
        ]
        for info in infos:
            info.wait_for_publish(timeout=10)
        client.disconnect()
        assert _wait_for(lambda: _count("mqtt-scale-1") == 200, timeout=30), _count("mqtt-scale-1")
