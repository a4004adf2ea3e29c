"""The MQTT broker's clients, kept by BeeAPI through Mosquitto's dynamic-security API.

BeeAPI runs its own Mosquitto with the dynamic-security plugin (``MQTT_URL``). Each hive's
device connects as username = its device_id, password = its device key, and may publish to
its own two topics only (``beeapi/devices/{device_id}/readings`` and ``.../data.json``);
it may subscribe to nothing. ``mqtt_ingest`` connects as ``beeapi-ingest`` and reads
every device's topics through one shared subscription, so several ingest processes share
the messages. sensors.signals keeps the device clients in step with the device keys.

Every command is a JSON message to ``$CONTROL/dynamic-security/v1``; the broker answers on
``$CONTROL/dynamic-security/v1/response`` (each answer carries the request's
``correlationData``). One admin connection per process carries them, one request at a
time, reconnecting when it was lost. A broker that cannot be reached, refuses the admin
login or does not answer within ``MQTT_TIMEOUT_SECONDS`` raises BrokerUnavailable; an
answer with an error raises BrokerCommandError. Both are 503 API errors, so a change that
needed the broker rolls back as a whole.

Mosquitto 2.0's dynamic-security ACLs do not substitute ``%u`` (checked on 2.0.11: a
role allowing ``beeapi/devices/%u/readings`` lets no device publish there), so each
device has a role of its own, ``beeapi-device:{device_id}``, naming its topics; the
shared role ``beeapi-device`` carries no ACL and marks a client as a device's. A client
without it (the admin, the ingest client, anything made by hand) is never changed or
deleted here, whatever device_id a hive has.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import threading
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from django.conf import settings
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from core.exceptions import UpstreamUnavailable

logger = logging.getLogger("sensors.broker")

CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"
RESPONSE_TOPIC = f"{CONTROL_TOPIC}/response"
DEVICE_ROLE = "beeapi-device"
DEVICE_ROLE_PREFIX = f"{DEVICE_ROLE}:"
INGEST_USERNAME = "beeapi-ingest"
INGEST_ROLE = "beeapi-ingest"
TOPIC_ROOT = "beeapi/devices"
TOPIC_KINDS = ("readings", "data.json")
# The ingest processes share one subscription: each message goes to one of them.
INGEST_GROUP = "beeapi"
INGEST_FILTER = f"{TOPIC_ROOT}/+/+"
INGEST_SUBSCRIPTION = f"$share/{INGEST_GROUP}/{INGEST_FILTER}"
DEFAULT_PORT = 1883
MQTT_OFF = "MQTT is off: set MQTT_URL (and MQTT_ADMIN_USERNAME, MQTT_ADMIN_PASSWORD)."
# /health asks often and must answer within its own timeout: a hung broker costs this.
STATUS_TIMEOUT_SECONDS = 2.0


class BrokerError(UpstreamUnavailable):
    """The MQTT broker did not take a change BeeAPI needed it to (503): nothing changed."""

    default_detail = "The change could not be saved: the MQTT broker did not confirm it. Try again."
    default_code = "mqtt_unavailable"


class BrokerUnavailable(BrokerError):
    """The broker cannot be reached, refused the admin login, or did not answer in time."""

    default_detail = "The change could not be saved: the MQTT broker is unavailable. Try again."


class BrokerCommandError(BrokerError):
    """The broker answered a command with an error (``command``, ``error``)."""

    default_code = "mqtt_refused"

    def __init__(self, command: str, error: str, detail: str | None = None) -> None:
        self.command = command
        self.error = error
        super().__init__(
            detail or f"The change could not be saved: the MQTT broker refused it ({error})."
        )


@dataclass(frozen=True)
class ConnectParams:
    """How mqtt_ingest connects: as ``username`` with ``password`` to ``host``:``port``,
    then subscribes to ``subscription`` (a shared subscription; see INGEST_SUBSCRIPTION)."""

    host: str
    port: int
    username: str
    password: str
    subscription: str = INGEST_SUBSCRIPTION

    def __repr__(self) -> str:  # never a credential in a log line or a traceback
        return (
            f"ConnectParams(host={self.host!r}, port={self.port}, "
            f"username={self.username!r}, subscription={self.subscription!r})"
        )


def enabled() -> bool:
    """Whether BeeAPI uses an MQTT broker at all (``MQTT_URL`` set)."""
    return bool(settings.MQTT_URL)


def endpoint() -> tuple[str, int]:
    """The broker's (host, port), from MQTT_URL."""
    parts = urlsplit(settings.MQTT_URL)
    return parts.hostname or "", parts.port or DEFAULT_PORT


def device_topics(device_id: str) -> list[str]:
    """The topics a device may publish to."""
    return [f"{TOPIC_ROOT}/{device_id}/{kind}" for kind in TOPIC_KINDS]


def topic_parse(topic: str) -> tuple[str, str] | None:
    """``(device_id, kind)`` of a device topic (kind: "readings" or "data.json"), or None."""
    root, sep, rest = topic.partition(f"{TOPIC_ROOT}/")
    if root or not sep:
        return None
    device_id, sep, kind = rest.partition("/")
    if not device_id or not sep or kind not in TOPIC_KINDS:
        return None
    return device_id, kind


def ingest_password() -> str:
    """The ingest client's password, derived from the admin password: every process that
    knows the admin login agrees on it without storing another secret, and broker_setup
    sets it at the broker."""
    digest = hmac.new(
        settings.MQTT_ADMIN_PASSWORD.encode(), b"beeapi-ingest mqtt password", hashlib.sha256
    ).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def ingest_connect_params() -> ConnectParams:
    """What mqtt_ingest needs to connect and subscribe (run broker_setup first: it makes
    the client and its shared subscription's ACL)."""
    host, port = endpoint()
    return ConnectParams(host=host, port=port, username=INGEST_USERNAME, password=ingest_password())


# --- The admin connection ------------------------------------------------------------


class _Waiter:
    def __init__(self) -> None:
        self.event = threading.Event()
        self.responses: list[dict[str, Any]] = []


class _AdminSession:
    """One MQTT connection as the dynamic-security admin, subscribed to the answers."""

    def __init__(self, host: str, port: int, username: str, password: str) -> None:
        self.key = (host, port, username, password)
        self.pid = os.getpid()
        self.ready = threading.Event()
        self.refused: str | None = None
        self.lost = False
        self.pending: dict[str, _Waiter] = {}
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"beeapi-admin-{uuid.uuid4().hex[:16]}",
            protocol=mqtt.MQTTv5,
        )
        client.username_pw_set(username, password)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.on_disconnect = self._on_disconnect
        self.client = client

    def open(self, timeout: float) -> None:
        host, port = self.key[0], self.key[1]
        self.client.connect_timeout = timeout
        try:
            self.client.connect(host, port, keepalive=60)
        except (OSError, ValueError) as exc:
            raise self._unavailable(f"cannot connect ({type(exc).__name__}: {exc})") from exc
        self.client.loop_start()
        if not self.ready.wait(timeout):
            self.close()
            raise self._unavailable("no answer to the admin's connect and subscribe")
        if self.refused:
            self.close()
            raise self._unavailable(f"the admin login was refused ({self.refused})")

    def usable(self) -> bool:
        return self.pid == os.getpid() and not self.lost and self.client.is_connected()

    def close(self) -> None:
        if self.pid != os.getpid():
            return  # a forked child: the connection and its thread are the parent's
        try:
            # First: a disconnecting client's network thread stops retrying and ends.
            self.client.disconnect()
        except Exception:  # noqa: BLE001 - closing a connection that is gone anyway
            pass
        self.client.loop_stop()

    def request(self, commands: list[dict[str, Any]], timeout: float) -> list[dict[str, Any]]:
        correlation = uuid.uuid4().hex
        waiter = _Waiter()
        self.pending[correlation] = waiter
        try:
            body = {"commands": [{**c, "correlationData": correlation} for c in commands]}
            # QoS 0: the answer is the acknowledgement. A QoS 1 message the broker never
            # acknowledged would keep the network thread (and close()) waiting for it.
            info = self.client.publish(CONTROL_TOPIC, json.dumps(body), qos=0)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                raise self._unavailable(f"cannot send a command ({mqtt.error_string(info.rc)})")
            if not waiter.event.wait(timeout):
                self.lost = True  # something is wrong with this connection: start over
                raise self._unavailable(f"no answer within {timeout:g} s")
        finally:
            self.pending.pop(correlation, None)
        return waiter.responses

    def _unavailable(self, why: str) -> BrokerUnavailable:
        logger.warning("MQTT broker %s:%s unavailable: %s", self.key[0], self.key[1], why)
        return BrokerUnavailable()

    # Callbacks, on the client's network thread.
    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, properties: Any
    ) -> None:
        if reason.is_failure:
            self.refused = str(reason)
            self.ready.set()
            return
        client.subscribe(RESPONSE_TOPIC, qos=1)

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reasons: list[ReasonCode],
        properties: Any,
    ) -> None:
        if any(r.is_failure for r in reasons):
            self.refused = f"cannot subscribe to {RESPONSE_TOPIC}"
        self.ready.set()

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, properties: Any
    ) -> None:
        self.lost = True
        for waiter in list(self.pending.values()):
            waiter.event.set()  # an empty answer: the request fails at once

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        try:
            responses = json.loads(message.payload)["responses"]
            correlation = responses[0]["correlationData"]
        except (ValueError, KeyError, IndexError, TypeError):
            return  # not an answer to this process (another admin's, say)
        waiter = self.pending.get(correlation)
        if waiter is not None:
            waiter.responses = responses
            waiter.event.set()


_lock = threading.Lock()
_session: _AdminSession | None = None


def _commands(
    commands: list[dict[str, Any]],
    *,
    allowed_errors: tuple[str, ...] = (),
    timeout: float | None = None,
) -> list[dict[str, Any]]:
    """Send ``commands`` in one message and return their answers, in order.

    An answer with an error raises BrokerCommandError, unless the error is one of
    ``allowed_errors`` (such as "Client not found" for a delete that finds nothing).
    ``timeout`` bounds the connect and the answer each (default MQTT_TIMEOUT_SECONDS).
    """
    global _session
    if not enabled():
        raise BrokerUnavailable(MQTT_OFF)
    host, port = endpoint()
    key = (host, port, settings.MQTT_ADMIN_USERNAME, settings.MQTT_ADMIN_PASSWORD)
    if timeout is None:
        timeout = settings.MQTT_TIMEOUT_SECONDS
    with _lock:
        if _session is not None and (_session.key != key or not _session.usable()):
            _session.close()
            _session = None
        if _session is None:
            session = _AdminSession(*key)
            session.open(timeout)
            _session = session
        try:
            responses = _session.request(commands, timeout)
        except BrokerUnavailable:
            _session.close()
            _session = None
            raise
        if len(responses) != len(commands):  # the connection dropped meanwhile
            _session.close()
            _session = None
            logger.warning("MQTT broker %s:%s: connection lost during a command", host, port)
            raise BrokerUnavailable()
    for command, response in zip(commands, responses, strict=True):
        error = response.get("error")
        if error and error not in allowed_errors:
            logger.error("MQTT broker refused %s: %s", command["command"], error)
            raise BrokerCommandError(command["command"], error)
    return responses


def admin_commands(
    commands: list[dict[str, Any]], *, allowed_errors: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    """Send dynamic-security commands as BeeAPI's admin login and return the answers (for
    tools such as the benchmarks; BeeAPI's own changes go through the functions here)."""
    return _commands(commands, allowed_errors=allowed_errors)


def disconnect() -> None:
    """Close this process's admin connection (the next command opens a new one)."""
    global _session
    with _lock:
        if _session is not None:
            _session.close()
            _session = None


# --- Device clients --------------------------------------------------------------------


def _device_role(device_id: str) -> str:
    return DEVICE_ROLE_PREFIX + device_id


def _reserved(device_id: str) -> bool:
    return device_id in {settings.MQTT_ADMIN_USERNAME, INGEST_USERNAME}


def _client(username: str, *, timeout: float | None = None) -> dict[str, Any] | None:
    """The broker's client ``username`` (its roles), or None when there is none."""
    (answer,) = _commands(
        [{"command": "getClient", "username": username}],
        allowed_errors=("Client not found",),
        timeout=timeout,
    )
    return None if answer.get("error") else answer["data"]["client"]


def device_client_exists(*, device_id: str) -> bool | None:
    """Whether the broker has the device's client (it can log in over MQTT); None when
    MQTT is off or the broker does not answer within STATUS_TIMEOUT_SECONDS."""
    if not enabled():
        return None
    try:
        client = _client(device_id, timeout=STATUS_TIMEOUT_SECONDS)
    except BrokerError:
        return None
    return client is not None and _is_device(client)


def _is_device(client: dict[str, Any]) -> bool:
    return any(r.get("rolename") == DEVICE_ROLE for r in client.get("roles", []))


def device_client_set(*, device_id: str, key: str) -> None:
    """Let the device ``device_id`` connect with ``key`` (creating its client and role, or
    setting the client's password: a connection with the old one is closed at once)."""
    if _reserved(device_id):
        raise BrokerCommandError("createClient", f"{device_id!r} is a reserved username")
    existing = _client(device_id)
    if existing is not None and not _is_device(existing):
        raise BrokerCommandError("modifyClient", f"{device_id!r} is not a device's client")
    role = _device_role(device_id)
    acls = [
        {"acltype": "publishClientSend", "topic": topic, "allow": True}
        for topic in device_topics(device_id)
    ]
    _commands(
        [
            {"command": "createRole", "rolename": DEVICE_ROLE},
            {"command": "createRole", "rolename": role, "acls": acls},
            {"command": "createClient", "username": device_id},
            {
                "command": "modifyClient",
                "username": device_id,
                "password": key,
                "roles": [{"rolename": DEVICE_ROLE}, {"rolename": role}],
            },
        ],
        allowed_errors=("Role already exists", "Client already exists"),
    )


def device_client_delete(*, device_id: str) -> bool:
    """Remove the device's client (closing its connection) and role. True when there was
    one; no error when there is none. A client that is not a device's is left alone."""
    existing = _client(device_id)
    if existing is not None and not _is_device(existing):
        logger.warning("MQTT client %r is not a device's: not deleted", device_id)
        existing = None
    commands = [{"command": "deleteRole", "rolename": _device_role(device_id)}]
    if existing is not None:
        commands.insert(0, {"command": "deleteClient", "username": device_id})
    _commands(commands, allowed_errors=("Client not found", "Role not found"))
    return existing is not None


def device_clients() -> list[str]:
    """The usernames (device ids) of every device client at the broker, sorted."""
    (answer,) = _commands([{"command": "listClients", "verbose": True, "count": -1}])
    return sorted(c["username"] for c in answer["data"]["clients"] if _is_device(c))


# --- Setup and status ------------------------------------------------------------------


def _login_works(username: str, password: str) -> bool:
    """Whether the broker accepts this login now (a connect that is closed at once)."""
    host, port = endpoint()
    accepted = threading.Event()
    answered = threading.Event()
    probe = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"beeapi-probe-{uuid.uuid4().hex[:16]}",
        protocol=mqtt.MQTTv5,
    )
    probe.username_pw_set(username, password)

    def on_connect(*args: Any) -> None:
        if not args[3].is_failure:
            accepted.set()
        answered.set()

    probe.on_connect = on_connect
    probe.connect_timeout = settings.MQTT_TIMEOUT_SECONDS
    try:
        probe.connect(host, port, keepalive=10)
    except (OSError, ValueError) as exc:
        raise BrokerUnavailable() from exc
    probe.loop_start()
    try:
        if not answered.wait(settings.MQTT_TIMEOUT_SECONDS):
            raise BrokerUnavailable()
    finally:
        probe.disconnect()
        probe.loop_stop()
    return accepted.is_set()


def broker_setup() -> None:
    """Make the broker ready for BeeAPI, idempotently: the devices' role, the ingest
    client and its role (a shared subscription to every device's topics), and default
    access that lets a client publish and subscribe nothing its roles do not allow.

    A running ingest client is not disturbed when its login and role are already right.
    """
    ingest_acls = [
        {"acltype": "subscribePattern", "topic": INGEST_SUBSCRIPTION, "allow": True},
        {"acltype": "publishClientReceive", "topic": INGEST_FILTER, "allow": True},
    ]
    _commands(
        [
            {"command": "createRole", "rolename": DEVICE_ROLE},
            {"command": "createRole", "rolename": INGEST_ROLE, "acls": ingest_acls},
            *({"command": "addRoleACL", "rolename": INGEST_ROLE, **acl} for acl in ingest_acls),
            {
                "command": "setDefaultACLAccess",
                "acls": [
                    {"acltype": "publishClientSend", "allow": False},
                    {"acltype": "subscribe", "allow": False},
                    {"acltype": "publishClientReceive", "allow": True},
                    {"acltype": "unsubscribe", "allow": True},
                ],
            },
        ],
        allowed_errors=("Role already exists", "ACL with this topic already exists"),
    )
    password = ingest_password()
    existing = _client(INGEST_USERNAME)
    if existing is None:
        _commands(
            [
                {
                    "command": "createClient",
                    "username": INGEST_USERNAME,
                    "password": password,
                    "roles": [{"rolename": INGEST_ROLE}],
                }
            ]
        )
        return
    roles = {r.get("rolename") for r in existing.get("roles", [])}
    if roles != {INGEST_ROLE} or not _login_works(INGEST_USERNAME, password):
        # A changed admin password (the ingest password derives from it), or roles set
        # by hand: this closes the ingest connections, which reconnect with the new login.
        _commands(
            [
                {
                    "command": "modifyClient",
                    "username": INGEST_USERNAME,
                    "password": password,
                    "roles": [{"rolename": INGEST_ROLE}],
                }
            ]
        )


def broker_status() -> dict[str, Any]:
    """Whether the broker answers the admin now: ``{"reachable", "host", "port"}`` (never
    a credential), or ``{"configured": False}`` without MQTT_URL."""
    if not enabled():
        return {"configured": False}
    host, port = endpoint()
    timeout = min(settings.MQTT_TIMEOUT_SECONDS, STATUS_TIMEOUT_SECONDS)
    try:
        _commands([{"command": "getDefaultACLAccess"}], timeout=timeout)
    except Exception:  # noqa: BLE001 - any failure means "not reachable" here
        return {"reachable": False, "host": host, "port": port}
    return {"reachable": True, "host": host, "port": port}
