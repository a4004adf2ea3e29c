"""The "Connect a sensor" panel of a hive's console page: what the device last sent, and
for each way in (BeeAPI's JSON over HTTP or MQTT, Hiveeyes/Kotori MQTT, BEEP, ThingSpeak
/ HoneyPi, The Things Network) the exact URL or topic, the credential, the field map in
force and an example to copy. The data is sensors.selectors.device_status, the same as
``GET /hives/{id}/device``; the device key itself is never shown (it is shown once, when
created or replaced), the examples name it ``<device key>``."""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from apiary.models import Hive
from core.times import iso_time
from sensors.selectors import device_status

KEY = "<device key>"


@dataclass(frozen=True)
class Way:
    """One way for a device to send readings."""

    title: str
    where: list[tuple[str, str]]  # (label, value): URL, topic, username, credential
    example: str
    field_map: list[tuple[str, str, str]] = field(default_factory=list)  # key, metric, unit
    note: str = ""


def _json(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False)


def _curl_json(url: str, body: dict[str, Any], *headers: str) -> str:
    parts = ["curl", "-X", "POST", url, "-H", "Content-Type: application/json"]
    for header in headers:
        parts += ["-H", header]
    return (
        " ".join(shlex.quote(part) for part in parts) + " \\\n     -d " + shlex.quote(_json(body))
    )


def _mosquitto_pub(broker_url: str | None, username: str, topic: str, body: dict[str, Any]) -> str:
    parts = urlsplit(broker_url or "mqtt://<broker>:1883")
    command = [
        "mosquitto_pub",
        "-h",
        parts.hostname or "<broker>",
        "-p",
        str(parts.port or 1883),
        "-V",
        "mqttv5",
        "-q",
        "1",
        "-u",
        username,
        "-P",
        KEY,
        "-t",
        topic,
        "-m",
        _json(body),
    ]
    return " ".join(shlex.quote(part) for part in command)


def _map_rows(field_map: dict[str, dict[str, str]]) -> list[tuple[str, str, str]]:
    return [(key, target["metric"], target["unit"]) for key, target in field_map.items()]


def sensor_panel(
    *, hive: Hive, absolute_url: Callable[[str], str], now: datetime | None = None
) -> dict[str, Any]:
    """The panel's context: ``status`` (device_status) and ``ways`` (a Way each)."""
    status = device_status(hive=hive, absolute_url=absolute_url)
    if status["last_error"] is not None:
        status["last_error_json"] = _json(status["last_error"])
    connect, maps = status["connect"], status["field_maps"]
    stamp = iso_time((now or datetime.now(UTC)).replace(microsecond=0))
    mqtt = connect["mqtt"]
    ways = [
        Way(
            "BeeAPI JSON over HTTP",
            [("URL", connect["telemetry"]["url"]), ("Key", "header X-Device-Key")],
            _curl_json(
                connect["telemetry"]["url"],
                {"time": stamp, "temperature": 34.8, "weight": 41.2, "battery": 3.9},
                f"X-Device-Key: {KEY}",
            ),
            note='One reading, or {"readings": [...]} with many; metrics by their names.',
        ),
        Way(
            "MQTT, BeeAPI JSON",
            [
                ("Broker", mqtt["broker"] or "MQTT is off on this server"),
                ("Topic", mqtt["topics"]["telemetry"]),
                ("Username", mqtt["username"]),
                ("Password", "the device key"),
            ],
            _mosquitto_pub(
                mqtt["broker"],
                mqtt["username"],
                mqtt["topics"]["telemetry"],
                {"time": stamp, "temperature": 34.8, "weight": 41.2},
            ),
            note=_mqtt_note(mqtt["client"]),
        ),
        Way(
            "MQTT, Hiveeyes / Kotori data.json",
            [
                ("Broker", mqtt["broker"] or "MQTT is off on this server"),
                ("Topic", mqtt["topics"]["kotori"]),
                ("Username", mqtt["username"]),
                ("Password", "the device key"),
            ],
            _mosquitto_pub(
                mqtt["broker"],
                mqtt["username"],
                mqtt["topics"]["kotori"],
                {"weight": 41.2, "broodtemperature": 34.8, "airtemperature": 17.5},
            ),
            _map_rows(maps["kotori"]),
            note="A flat JSON object; `time` (ISO 8601) is optional. " + _mqtt_note(mqtt["client"]),
        ),
        Way(
            "BEEP-compatible",
            [("URL", connect["beep"]["url"]), ("Key", "`key` in the body, or X-Device-Key")],
            _curl_json(
                connect["beep"]["url"],
                {"key": KEY, "t_i": 34.8, "t": 17.5, "h": 58, "weight_kg": 41.2, "bv": 3.9},
            ),
            _map_rows(maps["beep"]),
            note="`time` in Unix seconds is optional. Keys no map names are reported, not refused.",
        ),
        Way(
            "ThingSpeak-compatible (HoneyPi)",
            [
                ("URL", connect["thingspeak"]["url"]),
                ("Text answer", connect["thingspeak"]["text_url"]),
                ("Write key", "api_key = the device key"),
            ],
            "curl -X POST "
            + shlex.quote(f"{connect['thingspeak']['url']}?api_key={KEY}&field1=34.8&field6=41.2"),
            _map_rows(maps["thingspeak"]),
            note="In HoneyPi, set the ThingSpeak server to this site's address.",
        ),
        Way(
            "The Things Network (v3 webhook)",
            [
                ("Webhook URL", connect["ttn"]["url"]),
                ("Header", "Authorization: Bearer <integration key> (POST /integrations)"),
                ("Device", connect["ttn"]["device"]),
            ],
            "In TTN's console: Integrations > Webhooks > Custom webhook; base URL the URL"
            " above, enable 'Uplink message' only, and add the Authorization header.",
            _map_rows(maps["ttn"]),
            note="Values come from decoded_payload (a payload formatter is needed); the best"
            " gateway's RSSI and SNR are stored with the reading.",
        ),
    ]
    return {"sensor_status": status, "sensor_ways": ways}


def _mqtt_note(client: bool | None) -> str:
    if client is False:
        return (
            "The broker has no client for this device (the hive was created while the broker"
            " was down, or its device_id changed): replace the device key to create one."
        )
    return ""
