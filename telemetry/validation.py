"""Validation of submitted readings, in bulk.

A device may send thousands of readings per request, so this is one tight loop over plain
dicts (no serializer objects per field). A batch is valid as a whole or not at all: every
problem is collected and reported per item, and nothing is written.

Rules: ``time`` is ISO 8601 with a timezone, at most MAX_FUTURE_SKEW ahead of the server
clock and not older than the retention; each metric is a finite number in its plausible
range; at least one metric; no other keys (``device_id`` is accepted only when it is the
device being written). The same ``time`` twice in one batch is a duplicate, like a
re-sent reading: the first occurrence is kept and the rest are counted as duplicates.

METRIC_TABLE is the one list of the metrics: their names, plausible ranges, labels and
units. Validation (both paths), the API schema, the migrations' SQL, import_readings,
the alert rules and the console's pages all read it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from django.conf import settings

from core.times import iso_time


class Metric(NamedTuple):
    name: str  # the key in readings, the column in the database
    low: float  # plausible range, inclusive: outside is a faulty sensor or a unit error
    high: float
    unit: str
    label: str  # a heading on the console's pages
    decimals: int  # digits after the point where the console shows a value


# In the order of the columns of ``readings`` (and of ValidReading's fields).
METRIC_TABLE: tuple[Metric, ...] = (
    Metric("temperature", -40.0, 85.0, "°C", "Temperature", 1),
    Metric("humidity", 0.0, 100.0, "%", "Humidity", 0),
    Metric("weight", 0.0, 500.0, "kg", "Weight", 2),
    Metric("sound_level", 0.0, 160.0, "dB", "Sound level", 1),
    Metric("outside_temperature", -50.0, 70.0, "°C", "Outside temperature", 1),
    Metric("battery", 0.0, 30.0, "V", "Battery", 2),
    Metric("rssi", -150.0, 0.0, "dBm", "Signal (RSSI)", 0),
    Metric("snr", -30.0, 30.0, "dB", "Signal-to-noise", 1),
)
METRICS: tuple[str, ...] = tuple(metric.name for metric in METRIC_TABLE)
METRIC_BY_NAME: dict[str, Metric] = {metric.name: metric for metric in METRIC_TABLE}
# name: (low, high, unit)
METRIC_RANGES: dict[str, tuple[float, float, str]] = {
    metric.name: (metric.low, metric.high, metric.unit) for metric in METRIC_TABLE
}
MAX_FUTURE_SKEW = timedelta(minutes=5)
ALLOWED_KEYS = frozenset(("time", "device_id", *METRICS))

Errors = dict[str, list[str]]


class ValidReading(NamedTuple):
    """A validated reading: its time (UTC), its metrics in METRICS order (None where the
    reading has none), and ``stamp``. Spelled out for the type checker; the check below
    holds it to METRIC_TABLE, and the code that builds or reads these goes by METRICS.
    The metrics after the first four default to None (callers that build a reading from
    the four metrics of old keep working)."""

    time: datetime
    temperature: float | None
    humidity: float | None
    weight: float | None
    sound_level: float | None
    outside_temperature: float | None = None
    battery: float | None = None
    rssi: float | None = None
    snr: float | None = None
    # ``time`` as the API writes it (iso_time), when the device sent it in exactly that
    # form: the live message reuses it instead of formatting the time again.
    stamp: str = ""


if ValidReading._fields != ("time", *METRICS, "stamp"):  # pragma: no cover - a coding error
    raise RuntimeError("ValidReading's fields must be time, METRICS (in order) and stamp")


def _write_function(name: str, source: str) -> Callable[..., Any]:
    """The function ``name`` defined by ``source``: the per-reading code below is written
    out for the metrics of METRIC_TABLE (one local per metric, no loop over the table per
    reading), as namedtuple writes its methods; as fast as code inlined by hand, and a
    metric added to the table needs no edit here."""
    namespace: dict[str, Any] = {"iso_time": iso_time}
    exec(source, namespace)  # noqa: S102 - the source is made of METRIC_TABLE's own names
    return namespace[name]


# The form iso_time() writes for a time without microseconds; a string of this form that
# datetime.fromisoformat() accepts is the iso_time() of what it parses to.
_CANONICAL_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ").fullmatch


def _messages_source() -> str:
    values = ", ".join(f"v{i}" for i in range(len(METRICS)))
    items = ", ".join(f"{name!r}: v{i}" for i, name in enumerate(METRICS))
    return (
        "def messages(readings):\n"
        f"    return [{{'time': stamp or iso_time(time), {items}}}\n"
        f"            for time, {values}, stamp in readings]\n"
    )


_messages = _write_function("messages", _messages_source())


def messages(readings: list[ValidReading]) -> list[dict[str, Any]]:
    """The JSON shape of validated readings, as the API and the live stream show them:
    ``time`` and every metric of METRICS (None where the reading has none).

    One comprehension (written out for METRICS) because it runs for every stored batch;
    formatting a datetime cost more than the rest of the dict, so a time the device sent
    in the API's own form is carried through as it came (ValidReading.stamp).
    """
    result: list[dict[str, Any]] = _messages(readings)
    return result


def timed_rows(columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """Rows whose first column is a time, as JSON objects keyed by ``columns`` (plain
    dicts: a DRF serializer per row would cost more than the query)."""
    return [dict(zip(columns, (iso_time(row[0]), *row[1:]), strict=True)) for row in rows]


def row_messages(rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """The same shape for rows read back from the database: (time, *METRICS)."""
    return timed_rows(("time", *METRICS), rows)


class ReadingsInvalid(Exception):
    """A rejected batch: ``errors`` maps the item index (as a string) to field errors."""

    def __init__(self, errors: dict[str, Errors]) -> None:
        super().__init__(f"{len(errors)} invalid reading(s)")
        self.errors = errors


def _time(value: Any, now: datetime, oldest: datetime) -> tuple[datetime | None, str | None]:
    if not isinstance(value, str):
        return None, "A time string in ISO 8601 format with a timezone is required."
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None, "Not an ISO 8601 time (e.g. 2025-06-01T12:00:00Z)."
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        return None, "The time needs a timezone (Z or an offset such as +02:00)."
    problem = _time_bounds(parsed, now, oldest)
    return (None, problem) if problem else (parsed, None)


def _time_bounds(time: datetime, now: datetime, oldest: datetime | None) -> str | None:
    if time > now + MAX_FUTURE_SKEW:
        minutes = int(MAX_FUTURE_SKEW.total_seconds() // 60)
        return f"More than {minutes} minutes in the future; check the device clock."
    if oldest is not None and time < oldest:
        return "Older than the retention period; it would be deleted."
    return None


def _metric(name: str, value: Any) -> tuple[float | None, str | None]:
    if value is None:
        return None, None
    if type(value) is not float and type(value) is not int:  # bool is an int: refuse it
        return None, "A number is required."
    if type(value) is float and not math.isfinite(value):
        return None, "A finite number is required."
    metric = METRIC_BY_NAME[name]
    if not metric.low <= value <= metric.high:
        return None, f"Out of range: expected {metric.low:g} to {metric.high:g} {metric.unit}."
    return float(value), None


def wrong_device(data: dict[str, Any], device_id: str) -> str | None:
    """The error when ``data`` (a reading, or a batch's body) names a ``device_id`` other
    than the device being written (the device key's, or the hive's): a device writes only
    its own readings. None when it names none or the same one."""
    if "device_id" in data and data["device_id"] != device_id:
        return f"This key writes only device {device_id!r}."
    return None


def _item_errors(item: Any, device_id: str, now: datetime, oldest: datetime) -> Errors:
    """Every problem of one reading (the slow path, for readings that failed the fast one)."""
    if not isinstance(item, dict):
        return {"non_field_errors": ["Each reading must be a JSON object."]}
    errors: Errors = {key: ["Unknown field."] for key in item.keys() - ALLOWED_KEYS}
    problem = wrong_device(item, device_id)
    if problem:
        errors["device_id"] = [problem]
    if "time" in item:
        _, problem = _time(item["time"], now, oldest)
        if problem:
            errors["time"] = [problem]
    else:
        errors["time"] = ["This field is required."]
    _add_metric_errors(errors, [item.get(name) for name in METRICS])
    return errors


def _add_metric_errors(errors: Errors, values: Sequence[Any]) -> None:
    """The problems of a reading's metrics (``values`` in METRICS order), added to
    ``errors``; a reading without any metric is refused when it has no other problem."""
    for name, value in zip(METRICS, values, strict=True):
        _, problem = _metric(name, value)
        if problem:
            errors[name] = [problem]
    if not errors and all(value is None for value in values):
        errors["non_field_errors"] = [
            "At least one metric is required: " + ", ".join(METRICS) + "."
        ]


def stored_reading_errors(
    time: datetime, values: Sequence[Any], *, now: datetime | None = None
) -> Errors:
    """Every problem of a reading already typed (an aware ``time``, the metrics in
    METRICS order), as readings_validate finds it, except the retention: import_readings
    copies history from another database, however old. Empty when the reading is valid."""
    now = now or datetime.now(UTC)
    errors: Errors = {}
    problem = _time_bounds(time, now, None)
    if problem:
        errors["time"] = [problem]
    _add_metric_errors(errors, values)
    return errors


def _metrics_check_source() -> str:
    """``metric_values(item)``: the metrics of a reading (a dict) in METRICS order, floats
    or None, when each is absent, None or a number in its range and at least one is there;
    else None. NaN fails every comparison; bools are refused by the exact type test."""
    lines = ["def metric_values(item):", "    get = item.get"]
    names = [f"m{i}" for i in range(len(METRIC_TABLE))]
    for m, metric in zip(names, METRIC_TABLE, strict=True):
        lines += [
            f"    {m} = get({metric.name!r})",
            f"    if {m} is not None:",
            f"        if type({m}) is float:",
            f"            if not {metric.low!r} <= {m} <= {metric.high!r}:",
            "                return None",
            f"        elif type({m}) is int and {metric.low!r} <= {m} <= {metric.high!r}:",
            f"            {m} = float({m})",
            "        else:",
            "            return None",
        ]
    lines += [
        f"    if {' and '.join(f'{m} is None' for m in names)}:",
        "        return None",
        f"    return ({', '.join(names)},)",
    ]
    return "\n".join(lines) + "\n"


_metric_values: Callable[[dict[str, Any]], tuple[float | None, ...] | None] = _write_function(
    "metric_values", _metrics_check_source()
)


def readings_validate(
    items: Iterable[Any], *, device_id: str, now: datetime | None = None
) -> tuple[list[ValidReading], int]:
    """Valid readings sorted by time, in UTC (in-batch duplicates removed), and the
    number of in-batch duplicates.

    Raises ReadingsInvalid with every problem when any item is invalid. A well-formed
    reading passes one check (the metrics' part written out for METRIC_TABLE,
    _metric_values); only a failing one is examined field by field.
    """
    now = now or datetime.now(UTC)
    oldest = now - timedelta(days=settings.TELEMETRY_RETENTION_DAYS)
    latest = now + MAX_FUTURE_SKEW
    parse = datetime.fromisoformat
    metric_values = _metric_values
    make = ValidReading._make
    by_time: dict[datetime, ValidReading] = {}
    duplicates = 0
    errors: dict[str, Errors] = {}
    canonical = _CANONICAL_TIME
    for index, item in enumerate(items):
        try:
            raw = item["time"]
            time = parse(raw)
            values = metric_values(item)
            # A naive time raises TypeError when compared with an aware one.
            ok = (
                values is not None
                and oldest <= time <= latest
                and item.keys() <= ALLOWED_KEYS
                and ("device_id" not in item or wrong_device(item, device_id) is None)
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            ok = False
        if not ok:
            errors[str(index)] = _item_errors(item, device_id, now, oldest)
            continue
        if time.tzinfo is not UTC:
            time = time.astimezone(UTC)
        if time in by_time:
            duplicates += 1
        else:
            by_time[time] = make((time, *values, raw if canonical(raw) else ""))  # type: ignore[misc]
    if errors:
        raise ReadingsInvalid(errors)
    return sorted(by_time.values()), duplicates
