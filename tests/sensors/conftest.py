"""MQTT brokers for the tests, and MQTT clients that play devices and mqtt_ingest.

- ``mqtt_broker`` (session): the broker ``make test`` starts (devtools/devstack.py hands
  it over as BEEAPI_TEST_MQTT_URL, BEEAPI_TEST_MQTT_ADMIN_USERNAME and
  BEEAPI_TEST_MQTT_ADMIN_PASSWORD). Tests that need it are skipped without it.
- ``own_broker``: a throwaway Mosquitto with the dynamic-security plugin of this test
  only, which the test may stop, kill or restart (``.local``).
- ``mqtt_on`` / ``mqtt_on_own``: the settings of a BeeAPI that uses that broker
  (MQTT_URL, MQTT_ADMIN_*), after ``broker_setup``.

The suite otherwise runs with MQTT off (beeapi/settings_test.py). Also here: alice's hive
with its device key and the API clients (tests.telemetry.conftest), and ``stored`` /
``link`` to read back what a device's payload left.
"""

from __future__ import annotations

import os
import queue
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from devtools import localmqtt
from sensors import broker
from sensors.models import SensorLink
from telemetry.models import Reading
from tests.telemetry.conftest import alice_hive  # noqa: F401 - the hive with its device key

WAIT = 5.0  # seconds: a broker on this machine answers in milliseconds


@dataclass
class BrokerInfo:
    url: str
    admin_username: str
    admin_password: str
    local: localmqtt.LocalBroker | None = None  # set for a broker the test started

    @property
    def host(self) -> str:
        return self.url.split("://", 1)[1].rsplit(":", 1)[0]

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])


@pytest.fixture(scope="session")
def mqtt_broker() -> BrokerInfo:
    url = os.environ.get("BEEAPI_TEST_MQTT_URL")
    if not url:
        pytest.skip("no MQTT broker for the test run (make test starts one)")
    return BrokerInfo(
        url=url,
        admin_username=os.environ.get("BEEAPI_TEST_MQTT_ADMIN_USERNAME", ""),
        admin_password=os.environ.get("BEEAPI_TEST_MQTT_ADMIN_PASSWORD", ""),
    )


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[BrokerInfo]:
    """A broker of this test alone: stopping it disturbs nobody else."""
    if localmqtt.tools() is None:
        pytest.skip("mosquitto with the dynamic-security plugin is not installed")
    local = localmqtt.LocalBroker(tmp_path / "mosquitto")
    local.start()
    try:
        yield BrokerInfo(local.url, local.admin_username, local.admin_password, local)
    finally:
        local.stop()


def _use(settings: Any, info: BrokerInfo) -> Iterator[BrokerInfo]:
    settings.MQTT_URL = info.url
    settings.MQTT_ADMIN_USERNAME = info.admin_username
    settings.MQTT_ADMIN_PASSWORD = info.admin_password
    settings.MQTT_TIMEOUT_SECONDS = 2.0
    broker.broker_setup()
    try:
        yield info
    finally:
        broker.disconnect()


@pytest.fixture
def mqtt_on(settings: Any, mqtt_broker: BrokerInfo) -> Iterator[BrokerInfo]:
    """BeeAPI with MQTT, against the test run's broker."""
    yield from _use(settings, mqtt_broker)


@pytest.fixture
def mqtt_on_own(settings: Any, own_broker: BrokerInfo) -> Iterator[BrokerInfo]:
    """BeeAPI with MQTT, against this test's own broker."""
    yield from _use(settings, own_broker)


# --- MQTT clients ---------------------------------------------------------------------


class Client:
    """A paho MQTT 5 client run synchronously: connect, publish, subscribe, and wait for
    the broker's answers (reason codes) and messages."""

    def __init__(self, info: BrokerInfo, username: str, password: str) -> None:
        self.info = info
        self.connack: queue.Queue[ReasonCode] = queue.Queue()
        self.disconnected = threading.Event()
        self.disconnect_reason: ReasonCode | None = None
        self.acks: dict[int, queue.Queue[Any]] = {}
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.paho = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"test-{uuid.uuid4().hex[:12]}",
            protocol=mqtt.MQTTv5,
        )
        self.paho.username_pw_set(username, password)
        self.paho.reconnect_delay_set(60, 60)  # a refused client stays refused here
        self.paho.on_connect = lambda c, u, f, reason, p: self.connack.put(reason)
        self.paho.on_disconnect = self._on_disconnect
        self.paho.on_publish = lambda c, u, mid, reason, p: self._ack(mid, reason)
        self.paho.on_subscribe = lambda c, u, mid, reasons, p: self._ack(mid, reasons)
        self.paho.on_message = lambda c, u, message: self.messages.put(message)

    def _on_disconnect(self, c: Any, u: Any, flags: Any, reason: ReasonCode, p: Any) -> None:
        self.disconnect_reason = reason
        self.disconnected.set()

    def _ack(self, mid: int, answer: Any) -> None:
        self.acks.setdefault(mid, queue.Queue()).put(answer)

    def _wait_ack(self, mid: int) -> Any:
        return self.acks.setdefault(mid, queue.Queue()).get(timeout=WAIT)

    def connect(self) -> ReasonCode:
        """The broker's answer to the CONNECT (a failure: refused)."""
        self.paho.connect(self.info.host, self.info.port, keepalive=30)
        self.paho.loop_start()
        return self.connack.get(timeout=WAIT)

    def publish(self, topic: str, payload: str = "{}", qos: int = 1) -> ReasonCode:
        """Publish at QoS 1 and return the PUBACK's reason code (MQTT 5 says why not)."""
        info = self.paho.publish(topic, payload, qos=qos)
        return self._wait_ack(info.mid)

    def subscribe(self, topic: str, qos: int = 1) -> ReasonCode:
        """The SUBACK's reason code for ``topic`` (a failure: refused)."""
        _, mid = self.paho.subscribe(topic, qos=qos)
        (reason,) = self._wait_ack(mid)
        return reason

    def close(self) -> None:
        self.paho.disconnect()
        self.paho.loop_stop()


@pytest.fixture
def mqtt_client() -> Iterator[Any]:
    """``mqtt_client(info, username, password)``: a Client, closed after the test."""
    made: list[Client] = []

    def make(info: BrokerInfo, username: str, password: str) -> Client:
        client = Client(info, username, password)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def ingest_client(make: Any, info: BrokerInfo) -> Client:
    """Connected as mqtt_ingest connects (broker.ingest_connect_params), subscribed to
    every device's topics through the shared subscription."""
    params = broker.ingest_connect_params()
    client = make(info, params.username, params.password)
    assert not client.connect().is_failure
    assert not client.subscribe(params.subscription).is_failure
    return client


def stored(device_id: str) -> list[Reading]:
    return list(Reading.objects.filter(device_id=device_id).order_by("time"))


def link(hive: Any) -> SensorLink:
    return SensorLink.objects.get(hive=hive)
