"""Field maps: from the keys of a payload a sensor already sends to BeeAPI's metrics.

A field map is a JSON object ``{payload key: {"metric": name, "unit": unit}}`` (or just
``{payload key: name}`` for the metric's own unit). ``null`` for a key switches a key of the
adapter's default map off (it is then reported as unmapped). A hive's map (SensorLink's
``field_map``) overrides keys of the adapter's default map; keys it does not name keep the
default. docs/sensors.md has the default maps as tables.

payload_map() turns one payload into readings in POST /telemetry's shape (an ISO ``time``
and metric values in the metric's unit): values are converted here, validated (ranges,
time bounds, at least one metric) by telemetry.services.readings_ingest, like every
reading. Keys that no map names are kept out and reported as ``unmapped``, never an error;
a mapped key with a value that is not a number, or a time that cannot be read, is a
PayloadInvalid naming the payload key.

A map names the metrics of telemetry.validation.METRIC_TABLE, in the units given there.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from core.times import iso_time
from telemetry.validation import METRIC_TABLE

# Every metric a map may name, with the unit readings carry it in (telemetry's table).
METRIC_UNITS: dict[str, str] = {metric.name: metric.unit for metric in METRIC_TABLE}


def _identity(value: float) -> float:
    return value


# unit -> conversion into the metric's own unit, per metric. A battery given in percent is
# refused: turning a charge level into volts needs the cell's chemistry and the firmware's
# own curve; a guessed voltage would raise false low-battery alerts (docs/sensors.md).
_CELSIUS: dict[str, Callable[[float], float]] = {
    "°C": _identity,
    "°F": lambda f: (f - 32.0) * 5.0 / 9.0,
    "K": lambda k: k - 273.15,
}
UNITS: dict[str, dict[str, Callable[[float], float]]] = {
    "temperature": _CELSIUS,
    "outside_temperature": _CELSIUS,
    "humidity": {"%RH": _identity, "%": _identity},
    "weight": {"kg": _identity, "g": lambda g: g / 1000.0, "lb": lambda lb: lb * 0.45359237},
    "battery": {"V": _identity, "mV": lambda mv: mv / 1000.0},
    "sound_level": {"dB": _identity},
    "rssi": {"dBm": _identity},
    "snr": {"dB": _identity},
}

ADAPTERS = ("telemetry", "kotori", "beep", "thingspeak", "ttn")
MAX_MAP_KEYS = 64
MAX_KEY_LENGTH = 100


@dataclass(frozen=True)
class Target:
    metric: str
    unit: str


def _t(metric: str, unit: str | None = None) -> Target:
    return Target(metric, unit or METRIC_UNITS[metric])


# The default maps (docs/sensors.md shows them as tables; keep the two in step).
DEFAULT_MAPS: dict[str, dict[str, Target]] = {
    # Hiveeyes/Kotori flat data.json: the names of the Hiveeyes conventions, and the keys
    # the Terkin datalogger sends by default (a BME280 at 0x77 outside, the first load
    # cell, the system sensors).
    "kotori": {
        "weight": _t("weight"),
        "weight.0": _t("weight"),
        "broodtemperature": _t("temperature"),
        "temperature": _t("temperature"),
        "airtemperature": _t("outside_temperature"),
        "temperature.0x77.i2c:0": _t("outside_temperature"),
        "humidity": _t("humidity"),
        "airhumidity": _t("humidity"),
        "humidity.0x77.i2c:0": _t("humidity"),
        "battery_level": _t("battery"),
        "system.battery-voltage": _t("battery"),
        "rssi": _t("rssi"),
        "system.wifi.rssi": _t("rssi"),
        "snr": _t("snr"),
    },
    # BEEP's POST /api/sensors keys (its measurement table: t_i inside, t outside, h, bv
    # in volts as the BEEP base sends it, s_tot the total sound level).
    "beep": {
        "t_i": _t("temperature"),
        "t": _t("outside_temperature"),
        "h": _t("humidity"),
        "weight_kg": _t("weight"),
        "bv": _t("battery"),
        "s_tot": _t("sound_level"),
        "rssi": _t("rssi"),
        "snr": _t("snr"),
    },
    # HoneyPi lets the beekeeper assign fields; this is its shipped example settings.json
    # (DS18B20 in the brood on field1, the BME280/680's temperature and humidity on
    # field2/field3, air pressure and air quality on field4/field5, the scale on field6).
    "thingspeak": {
        "field1": _t("temperature"),
        "field2": _t("outside_temperature"),
        "field3": _t("humidity"),
        "field6": _t("weight"),
    },
    # TTN v3 decoded_payload: the BEEP base decoder's keys and generic names.
    "ttn": {
        "t_i": _t("temperature"),
        "t": _t("outside_temperature"),
        "h": _t("humidity"),
        "weight_kg": _t("weight"),
        "bv": _t("battery"),
        "s_tot": _t("sound_level"),
        "temperature": _t("temperature"),
        "humidity": _t("humidity"),
        "weight": _t("weight"),
        "battery": _t("battery"),
    },
    "telemetry": {},
}

# Keys an adapter reads itself (time, credentials, identities): neither mapped nor
# reported as unmapped.
_TIME_KEY = {"kotori": "time", "beep": "time", "thingspeak": "created_at"}
_RESERVED: dict[str, frozenset[str]] = {
    "kotori": frozenset({"time", "device_id"}),
    "beep": frozenset({"time", "key", "device_id"}),
    "thingspeak": frozenset({"created_at", "api_key", "key", "device_id"}),
    "ttn": frozenset(),
}

Errors = dict[str, list[str]]


@dataclass(frozen=True)
class Mapped:
    readings: list[dict[str, Any]]
    mapped: list[str]
    unmapped: list[str]


class PayloadInvalid(Exception):
    """A payload that cannot be mapped: ``errors`` names the payload keys at fault."""

    def __init__(self, errors: Errors) -> None:
        super().__init__(errors)
        self.errors = errors


# --- Field maps as stored -----------------------------------------------------------------


def field_map_errors(field_map: Any) -> list[str]:
    """What is wrong with a user's field map (empty when it is valid), each message naming
    the payload key."""
    if field_map is None:
        return []
    if not isinstance(field_map, dict):
        return ['A JSON object {"payload key": {"metric": ..., "unit": ...}} is required.']
    if len(field_map) > MAX_MAP_KEYS:
        return [f"At most {MAX_MAP_KEYS} keys."]
    problems = []
    metrics = ", ".join(METRIC_UNITS)
    for key, target in field_map.items():
        if not key or len(key) > MAX_KEY_LENGTH:
            problems.append(f"{key!r}: a key of 1 to {MAX_KEY_LENGTH} characters is required.")
            continue
        if target is None:
            continue
        if isinstance(target, str):
            target = {"metric": target}
        if not isinstance(target, dict) or not isinstance(target.get("metric"), str):
            problems.append(f'{key}: {{"metric": ..., "unit": ...}} or a metric name is required.')
            continue
        extra = set(target) - {"metric", "unit"}
        if extra:
            problems.append(f"{key}: unknown field(s) {', '.join(sorted(extra))}.")
        metric = target["metric"]
        if metric not in METRIC_UNITS:
            problems.append(f"{key}: unknown metric {metric!r}; choose one of {metrics}.")
            continue
        unit = target.get("unit", METRIC_UNITS[metric])
        if unit not in UNITS[metric]:
            units = ", ".join(UNITS[metric])
            problems.append(f"{key}: unknown unit {unit!r} for {metric}; choose one of {units}.")
    return problems


def field_map_normalized(field_map: dict[str, Any] | None) -> dict[str, Any] | None:
    """A valid user map as it is stored: every target spelled out with its unit."""
    if field_map is None:
        return None
    normalized: dict[str, Any] = {}
    for key, target in field_map.items():
        if target is None:
            normalized[key] = None
            continue
        if isinstance(target, str):
            target = {"metric": target}
        metric = target["metric"]
        normalized[key] = {"metric": metric, "unit": target.get("unit", METRIC_UNITS[metric])}
    return normalized


def field_map_effective(adapter: str, field_map: Mapping[str, Any] | None) -> dict[str, Target]:
    """The adapter's default map with the user's map laid over it (null drops a key)."""
    merged = dict(DEFAULT_MAPS[adapter])
    for key, target in (field_map or {}).items():
        if target is None:
            merged.pop(key, None)
        elif isinstance(target, str):
            merged[key] = _t(target)
        else:
            merged[key] = _t(target["metric"], target.get("unit"))
    return merged


def field_map_json(targets: Mapping[str, Target]) -> dict[str, dict[str, str]]:
    return {key: {"metric": t.metric, "unit": t.unit} for key, t in targets.items()}


# --- Values and times ---------------------------------------------------------------------


def _number(value: Any) -> float | None:
    """A finite number from a JSON number or a numeric string (form bodies and ThingSpeak
    send text), or None when it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def _blank(value: Any) -> bool:
    # ThingSpeak and form bodies send an empty field for "no value".
    return value is None or (isinstance(value, str) and not value.strip())


def _unix_time(value: Any) -> str:
    number = _number(value)
    if number is None:
        raise ValueError("A Unix time in seconds is required.")
    try:
        return iso_time(datetime.fromtimestamp(number, UTC))
    except (OverflowError, OSError, ValueError):
        raise ValueError("Not a possible Unix time.") from None


def _iso_time(value: Any, *, naive_is_utc: bool = False) -> str:
    if not isinstance(value, str):
        raise ValueError("An ISO 8601 time string is required.")
    text = value.strip()
    if " " in text and "T" not in text:
        text = text.replace(" ", "T", 1)  # ThingSpeak's "2018-01-30 10:26:02"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("Not an ISO 8601 time (e.g. 2025-06-01T12:00:00Z).") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        if not naive_is_utc:
            raise ValueError("The time needs a timezone (Z or an offset such as +02:00).")
        parsed = parsed.replace(tzinfo=UTC)
    return iso_time(parsed)


def _time_of(adapter: str, value: Any) -> str:
    if adapter == "beep":
        return _unix_time(value)
    if adapter == "kotori":
        # Kotori takes ISO 8601 and Unix seconds alike.
        return (
            _iso_time(value)
            if isinstance(value, str) and _number(value) is None
            else (_unix_time(value))
        )
    # ThingSpeak reads a created_at without a zone in the channel's zone, UTC by default.
    return _iso_time(value, naive_is_utc=True)


def _convert(key: str, value: Any, target: Target, errors: Errors) -> float | None:
    number = _number(value)
    if number is None:
        errors[key] = ["A number is required."]
        return None
    return UNITS[target.metric][target.unit](number)


# --- Mapping ----------------------------------------------------------------------------------


def _flat(
    adapter: str,
    payload: Mapping[str, Any],
    targets: Mapping[str, Target],
    *,
    reserved: frozenset[str],
    prefix: str = "",
) -> tuple[dict[str, Any], list[str], list[str], Errors]:
    """The metric values of a flat payload: (values, mapped keys, unmapped keys, errors)."""
    values: dict[str, Any] = {}
    mapped: list[str] = []
    unmapped: list[str] = []
    errors: Errors = {}
    sources: dict[str, str] = {}
    for key, value in payload.items():
        if key in reserved:
            continue
        target = targets.get(key)
        if target is None:
            unmapped.append(prefix + key)
            continue
        if _blank(value):
            continue
        converted = _convert(prefix + key, value, target, errors)
        if converted is None:
            continue
        if target.metric in sources:
            # Two keys for one metric (weight and weight.0): one reading holds one value.
            errors[prefix + key] = [
                f"{prefix + sources[target.metric]} already gives {target.metric}; "
                "map only one of them (a null in the hive's field map drops a key)."
            ]
            continue
        sources[target.metric] = key
        values[target.metric] = round(converted, 6)
        mapped.append(prefix + key)
    return values, mapped, unmapped, errors


def payload_map(
    *,
    adapter: str,
    payload: Any,
    field_map: dict[str, Any] | None,
    now: datetime | None = None,
) -> Mapped:
    """The readings of one payload of ``adapter`` under the hive's ``field_map`` (None: the
    adapter's default map), with the payload keys that mapped and those that did not.

    Raises PayloadInvalid (errors keyed by payload key) for a payload that is not of the
    adapter's shape, a mapped value that is not a number or a time that cannot be read.
    A time the payload does not give is ``now``.
    """
    if adapter not in ADAPTERS:
        raise ValueError(f"unknown adapter {adapter!r}")
    stamp = iso_time(now or datetime.now(UTC))
    if adapter == "telemetry":
        return _telemetry(payload)
    if not isinstance(payload, dict):
        raise PayloadInvalid({"non_field_errors": ["A JSON object is required."]})
    targets = field_map_effective(adapter, field_map)
    if adapter == "ttn":
        return _ttn(payload, targets, stamp)
    values, mapped, unmapped, errors = _flat(adapter, payload, targets, reserved=_RESERVED[adapter])
    reading: dict[str, Any] = {"time": stamp}
    time_key = _TIME_KEY[adapter]
    if not _blank(payload.get(time_key)):
        try:
            reading["time"] = _time_of(adapter, payload[time_key])
        except ValueError as exc:
            errors[time_key] = [str(exc)]
    if "device_id" in payload:
        # Kept for readings_ingest, which refuses a device_id other than the writer's.
        reading["device_id"] = payload["device_id"]
    if errors:
        raise PayloadInvalid(errors)
    return Mapped(readings=[{**reading, **values}], mapped=mapped, unmapped=unmapped)


def _telemetry(payload: Any) -> Mapped:
    """POST /telemetry's JSON as it is: one reading or {"readings": [...]}."""
    if not isinstance(payload, dict):
        raise PayloadInvalid(
            {"non_field_errors": ['Send one reading object or {"readings": [...]}.']}
        )
    if "readings" not in payload:
        readings = [payload]
    else:
        unknown = payload.keys() - {"readings", "device_id"}
        if unknown:
            raise PayloadInvalid({key: ["Unknown field."] for key in sorted(unknown)})
        readings = payload["readings"]
        if not isinstance(readings, list) or not readings:
            raise PayloadInvalid({"readings": ["A non-empty list of readings is required."]})
        if "device_id" in payload:
            # The batch's device_id goes onto each reading, where readings_ingest checks it.
            readings = [
                {"device_id": payload["device_id"], **r} if isinstance(r, dict) else r
                for r in readings
            ]
    seen = {k for r in readings if isinstance(r, dict) for k in r if k in METRIC_UNITS}
    return Mapped(readings=list(readings), mapped=sorted(seen), unmapped=[])


def ttn_best_gateway(rx_metadata: Any) -> dict[str, Any] | None:
    """The gateway entry of an uplink with the highest RSSI (``rssi``, else
    ``channel_rssi``), or None when there is none with a number."""
    best: tuple[float, dict[str, Any]] | None = None
    if not isinstance(rx_metadata, list):
        return None
    for gateway in rx_metadata:
        if not isinstance(gateway, dict):
            continue
        rssi = _number(gateway.get("rssi", gateway.get("channel_rssi")))
        if rssi is not None and (best is None or rssi > best[0]):
            best = (rssi, gateway)
    return best[1] if best else None


def _ttn(payload: dict[str, Any], targets: Mapping[str, Target], stamp: str) -> Mapped:
    """A TTN v3 uplink message: decoded_payload through the map, the best gateway's RSSI
    and SNR, the time the network received it."""
    uplink = payload.get("uplink_message")
    if not isinstance(uplink, dict):
        raise PayloadInvalid({"uplink_message": ["An uplink message is required."]})
    decoded = uplink.get("decoded_payload")
    if not isinstance(decoded, dict):
        raise PayloadInvalid(
            {
                "uplink_message.decoded_payload": [
                    "The uplink has no decoded payload: set a payload formatter (uplink "
                    "decoder) for the device or application in The Things Stack."
                ]
            }
        )
    prefix = "decoded_payload."
    values, mapped, unmapped, errors = _flat(
        "ttn", decoded, targets, reserved=frozenset(), prefix=prefix
    )
    gateway = ttn_best_gateway(uplink.get("rx_metadata"))
    if gateway is not None:
        for metric, source in (
            ("rssi", gateway.get("rssi", gateway.get("channel_rssi"))),
            ("snr", gateway.get("snr")),
        ):
            number = _number(source)
            if number is not None:
                values[metric] = number
                mapped.append(f"rx_metadata.{metric}")
    reading: dict[str, Any] = {"time": stamp}
    received = uplink.get("received_at", payload.get("received_at"))
    if not _blank(received):
        try:
            reading["time"] = _iso_time(received)
        except ValueError as exc:
            errors["received_at"] = [str(exc)]
    if errors:
        raise PayloadInvalid(errors)
    return Mapped(readings=[{**reading, **values}], mapped=mapped, unmapped=unmapped)
