"""The MQTT consumer behind ``manage.py mqtt_ingest``: devices' messages from the broker
into the one ingest service, in batches of many devices.

Delivery: the consumer subscribes with QoS 1 to a shared subscription (``$share/beeapi/``,
so several consumers split the traffic) under a persistent MQTT v5 session, and
acknowledges a message only after the transaction holding its readings has committed.
A consumer killed mid-batch has acknowledged nothing of that batch: the broker keeps the
messages in the session and delivers them again when a consumer with the same client id
comes back. A message delivered twice (committed, killed before its PUBACK) stores
nothing twice: (device_id, time) is the readings' primary key and the second delivery
counts as duplicates.

A message that does not validate (malformed JSON, an invalid reading, a payload whose
keys map to nothing) is dropped and recorded for its device (``GET /hives/{id}/device``
shows it); it never holds up the others. A message for a device that no hive has (its
hive deleted after the message was queued) is dropped and logged. While a database is
down nothing is acknowledged: the batch is retried with a growing pause.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import orjson
from django.conf import settings
from django.db import DatabaseError, close_old_connections

from sensors import broker
from sensors.fieldmaps import Mapped, PayloadInvalid, payload_map
from sensors.models import PAYLOAD_MAX_CHARS
from sensors.selectors import device_ids_with_hive, field_maps_for
from sensors.services import DeviceActivity, device_activity_record, payload_errors, payload_text
from telemetry.services import readings_ingest_many
from telemetry.validation import ReadingsInvalid

logger = logging.getLogger("sensors.mqtt")

# The topic's last level names the payload's format: the adapter that reads it.
ADAPTER_BY_KIND = {"readings": "telemetry", "data.json": "kotori"}
# What GET /hives/{id}/device shows as the adapter last used.
ACTIVITY_ADAPTER = {"readings": "mqtt", "data.json": "mqtt-kotori"}
# How long the broker keeps an offline consumer's session (and its unacknowledged
# messages): a consumer restarted within a day loses nothing.
SESSION_EXPIRY_SECONDS = 86_400


@dataclass(frozen=True)
class Message:
    """One received message: what the broker needs for the acknowledgement, and what the
    ingest needs to store it."""

    mid: int
    qos: int
    topic: str
    payload: bytes
    received_at: datetime


@dataclass(frozen=True)
class BatchResult:
    accepted: int
    duplicates: int
    dropped: int
    unknown_devices: int


def _decoded(message: Message) -> tuple[Any, str]:
    """The payload as JSON (or None) and as text for the device's status."""
    try:
        payload = orjson.loads(message.payload)
    except orjson.JSONDecodeError:
        return None, message.payload[:PAYLOAD_MAX_CHARS].decode("utf-8", errors="replace")
    return payload, payload_text(payload)


def batch_ingest(messages: Sequence[Message]) -> BatchResult:
    """Store a batch of messages of many devices in one transaction (telemetry's
    readings_ingest_many) and record what each device sent. Raises DatabaseError
    (nothing stored; the caller retries) when a database is down."""
    parsed = [(message, broker.topic_parse(message.topic)) for message in messages]
    known = device_ids_with_hive(device_ids={t[0] for _, t in parsed if t is not None})
    field_maps = field_maps_for(device_ids=known)
    to_store: list[tuple[str, list[Any]]] = []
    pending: list[tuple[DeviceActivity, str, Mapped]] = []
    activity: list[DeviceActivity] = []
    unknown = 0
    for message, target in parsed:
        if target is None or target[0] not in known:
            unknown += 1
            logger.info("dropped a message on %s: no hive has this device", message.topic)
            continue
        device_id, kind = target
        adapter = ADAPTER_BY_KIND[kind]
        payload, text = _decoded(message)
        record = DeviceActivity(
            device_id, ACTIVITY_ADAPTER[kind], message.received_at, text, [], []
        )
        try:
            if payload is None:
                raise PayloadInvalid({"payload": ["Malformed JSON."]})
            mapped = payload_map(
                adapter=adapter,
                payload=payload,
                field_map=field_maps.get(device_id),
                now=message.received_at,
            )
            if len(mapped.readings) > settings.TELEMETRY_MAX_BATCH:
                raise PayloadInvalid(
                    {"readings": [f"At most {settings.TELEMETRY_MAX_BATCH} readings per message."]}
                )
        except PayloadInvalid as exc:
            activity.append(replace(record, error=exc.errors))
            continue
        to_store.append((device_id, mapped.readings))
        pending.append(
            (replace(record, mapped=mapped.mapped, unmapped=mapped.unmapped), adapter, mapped)
        )
    outcomes = readings_ingest_many(to_store) if to_store else []
    accepted = duplicates = 0
    for (record, adapter, mapped), outcome in zip(pending, outcomes, strict=True):
        if isinstance(outcome, ReadingsInvalid):
            errors = payload_errors(
                adapter, field_maps.get(record.device_id), mapped, outcome.errors
            )
            activity.append(replace(record, error=errors))
        else:
            accepted += outcome.accepted
            duplicates += outcome.duplicates
            activity.append(record)
    dropped = sum(record.error is not None for record in activity)
    if activity:
        try:
            device_activity_record(records=activity)
        except DatabaseError:
            # The readings are committed: acknowledging them is right even when what the
            # devices sent cannot be recorded this time.
            logger.warning("could not record what %d message(s) sent", len(activity))
    return BatchResult(accepted, duplicates, dropped, unknown)


class Consumer:
    """One ``mqtt_ingest`` process: paho's network loop on its own thread hands messages
    to a queue; the main thread takes them in batches (up to ``batch_size`` messages, or
    what arrived within ``batch_wait`` seconds of the first), stores each batch and then
    acknowledges its messages."""

    def __init__(
        self,
        *,
        client_id: str,
        batch_size: int = 1000,
        batch_wait: float = 0.05,
        receive_maximum: int = 5000,
        log: Callable[[str], None] = print,
    ) -> None:
        self.client_id = client_id
        self.batch_size = batch_size
        self.batch_wait = batch_wait
        self.receive_maximum = receive_maximum
        self.log = log
        self.inbox: queue.Queue[Message] = queue.Queue()
        self.connected = threading.Event()
        self.stored = 0
        self.client: Any = None
        self.subscription = broker.INGEST_SUBSCRIPTION
        self.leaving = False

    # --- The broker -----------------------------------------------------------------

    def connect(self) -> None:
        from paho.mqtt.client import CallbackAPIVersion, Client
        from paho.mqtt.enums import MQTTProtocolVersion
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        params = broker.ingest_connect_params()
        self.subscription = params.subscription
        client = Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=MQTTProtocolVersion.MQTTv5,
            manual_ack=True,
        )
        client.username_pw_set(params.username, params.password)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.reconnect_delay_set(min_delay=1, max_delay=10)
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = SESSION_EXPIRY_SECONDS
        properties.ReceiveMaximum = self.receive_maximum
        self.client = client
        client.connect_async(
            params.host, params.port, keepalive=30, clean_start=False, properties=properties
        )
        client.loop_start()

    def _on_connect(
        self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any
    ) -> None:
        if reason_code.is_failure:
            logger.warning("the MQTT broker refused the connection: %s", reason_code)
            return
        from paho.mqtt.subscribeoptions import SubscribeOptions

        client.subscribe([(self.subscription, SubscribeOptions(qos=1))])
        self.connected.set()
        self.log(
            f"mqtt_ingest: connected as {self.client_id}"
            f" (session {'resumed' if flags.session_present else 'new'}),"
            f" subscribed to {self.subscription}"
        )

    def _on_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any
    ) -> None:
        self.connected.clear()
        if not self.leaving:
            logger.warning("disconnected from the MQTT broker (%s); reconnecting", reason_code)

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        self.inbox.put(
            Message(message.mid, message.qos, message.topic, message.payload, datetime.now(UTC))
        )

    def leave(self, drain_seconds: float = 30.0) -> None:
        """A graceful stop: leave the shared subscription, store and acknowledge what the
        broker had already sent, then end the session.

        Mosquitto keeps handing a shared subscription's messages to every session in the
        group, offline ones included, until the session expires. A consumer that stopped
        with its session kept would hold back its share of the traffic until a consumer
        with its client id returns; so a stopped consumer unsubscribes first, drains, and
        disconnects with a session expiry of 0. (A killed one keeps its session: the same
        client id resumes it.)
        """
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        if self.client is None:
            return
        self.leaving = True
        if self.connected.is_set():
            self.client.unsubscribe(self.subscription)
            # Bounded: with a database down the batch stays unacknowledged in the session.
            gave_up = threading.Event()
            timer = threading.Timer(drain_seconds, gave_up.set)
            timer.start()
            try:
                while not gave_up.is_set():
                    batch = self.next_batch(gave_up)  # waits up to 0.5 s for a message
                    if not batch or not self.store(batch, gave_up):
                        break
            finally:
                timer.cancel()
            if gave_up.is_set():
                self.client.disconnect()  # the session stays: its messages wait for us
                self.client.loop_stop()
                return
            properties = Properties(PacketTypes.DISCONNECT)
            properties.SessionExpiryInterval = 0
            self.client.disconnect(properties=properties)
        else:
            self.client.disconnect()
        self.client.loop_stop()

    # --- The loop -------------------------------------------------------------------

    def next_batch(self, stop: threading.Event) -> list[Message]:
        try:
            first = self.inbox.get(timeout=0.5)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + self.batch_wait
        while len(batch) < self.batch_size:
            remaining = deadline - time.monotonic()
            try:
                batch.append(
                    self.inbox.get(timeout=max(remaining, 0))
                    if remaining > 0
                    else self.inbox.get_nowait()
                )
            except queue.Empty:
                break
        return batch

    def store(self, batch: list[Message], stop: threading.Event) -> bool:
        """Store ``batch`` and acknowledge it; retried while a database is down. False
        when stopped before it could be stored (nothing acknowledged)."""
        pause = 0.5
        while True:
            try:
                result = batch_ingest(batch)
                break
            except DatabaseError as exc:
                close_old_connections()
                logger.warning(
                    "storing %d MQTT message(s) failed (%s); retrying in %.1f s",
                    len(batch),
                    str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__,
                    pause,
                )
                if stop.wait(pause):
                    return False
                pause = min(pause * 2, 10.0)
        for message in batch:
            if message.qos:
                self.client.ack(message.mid, message.qos)
        self.stored += result.accepted
        return True

    def setup(self, stop: threading.Event) -> bool:
        """broker_setup (the ingest client and its shared subscription's ACL), retried
        while the broker is unreachable. False when stopped first."""
        pause = 1.0
        while not stop.is_set():
            try:
                broker.broker_setup()
                return True
            except broker.BrokerError as exc:
                logger.warning("the MQTT broker is not ready (%s); retrying in %.0f s", exc, pause)
                stop.wait(pause)
                pause = min(pause * 2, 30.0)
        return False

    def run(self, stop: threading.Event, *, heartbeat: Callable[[], None] | None = None) -> None:
        if not self.setup(stop):
            return
        self.connect()
        try:
            while not stop.is_set():
                batch = self.next_batch(stop)
                if batch and not self.store(batch, stop):
                    break
                if heartbeat is not None and self.connected.is_set():
                    heartbeat()
        finally:
            self.leave()
