"""Calibrations applied when readings are read: raw readings stay as the device sent them.

A device's calibrations of one metric form a time line: each holds from its
``valid_from`` until the next one (telemetry.models.Calibration has the formula); before
the first, the raw value is the value. Every answer goes through here:

- readings already in Python (the live stream, the alert evaluation, the newest reading)
  through :func:`readings_calibrate`;
- queries (raw pages, hourly, daily, net weight) through :func:`Segments`: the union of
  the device's calibration instants cuts time into segments, each with one (offset,
  multiplier, temperature term) per calibrated metric, sent as arrays and joined to the
  readings by time range (one index range scan per segment, whatever the number of
  readings), so a calibration added later counts at once, on compressed chunks too.

Values computed here and in the selectors are rounded to :func:`api_decimals` digits.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connections, router

from telemetry.models import Calibration
from telemetry.validation import METRIC_BY_NAME, METRICS, ValidReading

# The temperature term applies to weight only: a load cell drifts with temperature.
COMPENSATED_METRIC = "weight"
TEMPERATURE_SOURCES = ("temperature", "outside_temperature")


def api_decimals(metric: str) -> int:
    """Digits after the point of a computed value of ``metric`` in the API and CSV (an
    average, a calibrated value, a change): one more than the console shows."""
    return METRIC_BY_NAME[metric].decimals + 1


def round_sql(expression: str, metric: str) -> str:
    """``expression`` (double precision) rounded to the metric's API digits, still double
    precision (NULL stays NULL)."""
    return f"round(({expression})::numeric, {api_decimals(metric)})::float8"


@dataclass(frozen=True)
class Step:
    """One calibration of one metric, as applied."""

    valid_from: datetime
    offset: float = 0.0
    multiplier: float = 1.0
    temperature_coefficient: float = 0.0
    reference_temperature: float | None = None
    temperature_metric: str = ""

    def apply(self, raw: float, temperatures: dict[str, float | None]) -> float:
        value = raw + self.offset
        if self.temperature_coefficient and self.reference_temperature is not None:
            temperature = temperatures.get(self.temperature_metric or "temperature")
            if temperature is not None:
                value -= self.temperature_coefficient * (temperature - self.reference_temperature)
        return value * self.multiplier

    @property
    def compensated(self) -> bool:
        return bool(self.temperature_coefficient) and self.reference_temperature is not None


IDENTITY = Step(valid_from=datetime.min)

# device_id -> metric -> its steps, oldest first
Timeline = dict[str, list[Step]]


def timelines_load(device_ids: Iterable[str]) -> dict[str, Timeline]:
    """The calibrations of ``device_ids`` (one indexed query; devices without any are
    left out)."""
    ids = sorted(set(device_ids))
    if not ids:
        return {}
    found: dict[str, Timeline] = defaultdict(lambda: defaultdict(list))
    # SQL of its own: this runs after every ingest commit, where compiling the ORM query
    # cost more than the query (the database is the one the ORM would read).
    with connections[router.db_for_read(Calibration)].cursor() as cursor:
        cursor.execute(_TIMELINES_SQL, [ids])
        for device_id, metric, *step in cursor.fetchall():
            found[device_id][metric].append(Step(*step))
    return {device: dict(metrics) for device, metrics in found.items()}


_TIMELINES_SQL = f"""
SELECT device_id, metric, valid_from, "offset", multiplier, temperature_coefficient,
       reference_temperature, temperature_metric
  FROM "{Calibration._meta.db_table}"
 WHERE device_id = ANY(%s)
 ORDER BY valid_from, id
"""


def timeline_load(device_id: str) -> Timeline:
    return timelines_load([device_id]).get(device_id, {})


def step_at(steps: Sequence[Step], when: datetime) -> Step:
    """The step in force at ``when`` (IDENTITY before the first)."""
    index = bisect.bisect_right([step.valid_from for step in steps], when) - 1
    return steps[index] if index >= 0 else IDENTITY


def row_calibrate(timeline: Timeline, when: datetime, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` (metric -> raw value or None) of a reading at ``when``, calibrated and
    rounded where a calibration applies (a new dict)."""
    if not timeline:
        return values
    calibrated = dict(values)
    for metric, steps in timeline.items():
        raw = values.get(metric)
        if raw is None:
            continue
        step = step_at(steps, when)
        if step is IDENTITY:
            continue
        calibrated[metric] = round(step.apply(raw, values), api_decimals(metric))
    return calibrated


def readings_calibrate(
    timeline: Timeline, readings: Sequence[ValidReading]
) -> list[ValidReading] | Sequence[ValidReading]:
    """``readings`` with their calibrated values (the same list without calibrations)."""
    if not timeline:
        return readings
    out = []
    for reading in readings:
        values = reading._asdict()
        calibrated = row_calibrate(timeline, reading.time, values)
        out.append(reading._replace(**{m: calibrated[m] for m in timeline if m in values}))
    return out


def batches_calibrate(
    batches: Sequence[tuple[str, Sequence[ValidReading]]],
) -> list[tuple[str, Sequence[ValidReading]]]:
    """Each device's new readings calibrated (one query for all the devices)."""
    timelines = timelines_load(device for device, _ in batches)
    if not timelines:
        return list(batches)
    return [
        (device, readings_calibrate(timelines.get(device, {}), readings))
        for device, readings in batches
    ]


def reading_row_calibrate(timeline: Timeline, row: tuple[Any, ...]) -> tuple[Any, ...]:
    """A ``(time, *METRICS)`` row calibrated."""
    if not timeline:
        return row
    values = dict(zip(METRICS, row[1:], strict=True))
    calibrated = row_calibrate(timeline, row[0], values)
    return (row[0], *(calibrated[m] for m in METRICS))


class Segments:
    """A device's calibration time line as SQL: ``source(...)`` is a FROM item of the
    readings with calibrated metric columns and a ``segment`` number (which calibration
    segment the reading falls in)."""

    def __init__(self, timeline: Timeline) -> None:
        self.metrics = tuple(m for m in METRICS if timeline.get(m))
        self.compensated = {m for m in self.metrics if any(s.compensated for s in timeline[m])}
        instants = sorted({s.valid_from for m in self.metrics for s in timeline[m]})
        bounds: list[datetime | None] = [None, *instants]
        self.lows = bounds
        self.highs = [*instants, None]
        self.steps = {
            m: [step_at(timeline[m], low) if low else IDENTITY for low in bounds]
            for m in self.metrics
        }
        self.instants = instants

    def __bool__(self) -> bool:
        return bool(self.metrics)

    def _columns(self) -> list[str]:
        columns = ["lo", "hi"]
        for m in self.metrics:
            columns += [f"o_{m}", f"m_{m}"]
            if m in self.compensated:
                columns += [f"k_{m}", f"t_{m}", f"src_{m}"]
        return columns

    def unnest_sql(self) -> tuple[str, list[Any]]:
        """``unnest(...) WITH ORDINALITY AS s(lo, hi, o_<m>, m_<m>, ..., segment)`` and
        its parameters."""
        arrays: list[Any] = [self.lows, self.highs]
        types = ["timestamptz[]", "timestamptz[]"]
        for m in self.metrics:
            steps = self.steps[m]
            arrays += [[s.offset for s in steps], [s.multiplier for s in steps]]
            types += ["float8[]", "float8[]"]
            if m in self.compensated:
                arrays += [
                    [s.temperature_coefficient if s.compensated else 0.0 for s in steps],
                    [s.reference_temperature if s.compensated else 0.0 for s in steps],
                    [s.temperature_metric or "temperature" for s in steps],
                ]
                types += ["float8[]", "float8[]", "text[]"]
        args = ", ".join(f"%s::{t}" for t in types)
        names = ", ".join([*self._columns(), "segment"])
        return f"unnest({args}) WITH ORDINALITY AS s({names})", arrays

    def value_sql(
        self,
        metric: str,
        row: str = "r",
        *,
        column: str | None = None,
        temperatures: dict[str, str] | None = None,
    ) -> str:
        """The calibrated value of ``metric`` of ``row`` (joined with ``s``); the raw
        column for a metric without calibrations. ``column``: the raw value's expression
        (``row.metric`` by default); ``temperatures``: the temperature columns'."""
        column = column or f"{row}.{metric}"
        if metric not in self.metrics:
            return column
        value = f"{column} + s.o_{metric}"
        if metric in self.compensated:
            temps = temperatures or {t: f"{row}.{t}" for t in TEMPERATURE_SOURCES}
            temperature = (
                f"CASE s.src_{metric} WHEN 'outside_temperature'"
                f" THEN {temps['outside_temperature']} ELSE {temps['temperature']} END"
            )
            value += f" - coalesce(s.k_{metric} * ({temperature} - s.t_{metric}), 0)"
        return f"({value}) * s.m_{metric}"

    def join_sql(self, row: str = "r") -> str:
        """The join condition of ``row``'s time with its segment."""
        return (
            f"{row}.time >= coalesce(s.lo, '-infinity'::timestamptz)"
            f" AND {row}.time < coalesce(s.hi, 'infinity'::timestamptz)"
        )
