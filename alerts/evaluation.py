"""Incremental evaluation of one rule over a batch of readings of one hive.

Pure functions, no database: the caller loads the rule's state (a small JSON object),
passes the batch's new readings (sorted by time, none older than the state's last one),
and stores the state returned. Every reading is looked at once, with a few comparisons;
nothing is queried per reading.

- swarm: the largest weight of the last ``window_minutes`` is kept as a monotonic queue
  of (time, weight); a reading ``drop_kg`` below it fires, and the baseline restarts.
- brood_temperature / threshold / low_battery / weak_signal (``_sustained``): the time
  the value first went out of bounds; a reading still out ``for_minutes`` later fires, a
  reading back in bounds resolves (low_battery: 0.1 V above ``below``, a hysteresis).
  weak_signal watches rssi and snr as one condition: either one out is out.
- no_data is the worker's (alerts.services.no_data_check); here only its clock moves.

Readings inside an inspection window, or near a harvest, box_added or box_removed event
of the hive (apiary.selectors.WEIGHT_EVENT_TYPES), plus the settle margin, are skipped by
the rules on weight, and the swarm baseline restarts after it: the beekeeper explained
the change.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from alerts.models import Kind
from alerts.rules import BATTERY_HYSTERESIS_V
from core.times import iso_time
from telemetry.validation import METRIC_BY_NAME, METRICS, ValidReading

_INDEX = {name: i + 1 for i, name in enumerate(METRICS)}  # ValidReading field positions
_SIGNAL_WORDS = {"rssi": "RSSI", "snr": "signal-to-noise"}


@dataclass
class Fire:
    at: datetime
    message: str
    values: dict[str, Any]


@dataclass
class Outcome:
    """What happened in the batch, in order: ("fire", Fire) or ("resolve", datetime)."""

    data: dict[str, Any]
    actions: list[tuple[str, Any]] = field(default_factory=list)


def _minutes(seconds: float) -> int:
    return max(1, round(seconds / 60))


def figure(metric: str, value: float) -> str:
    """A value as the console shows it: the metric's decimals and unit (3.31 V)."""
    spec = METRIC_BY_NAME[metric]
    return f"{value:.{spec.decimals}f} {spec.unit}"


def _at(epoch: float) -> str:
    return iso_time(datetime.fromtimestamp(epoch, UTC))


def evaluate(
    *,
    kind: str,
    params: dict[str, Any],
    data: dict[str, Any],
    readings: Sequence[ValidReading],
    active: bool,
    hive_name: str,
    suppressed: Callable[[datetime], bool] | None = None,
    epochs: Sequence[float] | None = None,
) -> Outcome:
    """The new state and the alerts to raise or resolve after ``readings``.

    ``active``: the rule has an unresolved alert on this hive (none is raised again while
    it lasts). ``suppressed(time)``: the reading falls in an inspection window or
    near a weight event.
    ``epochs``: the readings' times as POSIX seconds, when the caller has them already
    (one conversion per batch, shared by the rules).
    """
    if kind == Kind.SWARM:
        return _swarm(params, data, readings, epochs, active, hive_name, suppressed)
    if kind == Kind.BROOD_TEMPERATURE:
        unit = METRIC_BY_NAME["temperature"].unit
        return _sustained(
            (Band("temperature", params["min"], params["max"]),),
            params["for_minutes"],
            data,
            readings,
            active,
            lambda metric, value, since: (
                f"{hive_name}: brood temperature {value:.1f} {unit}, outside "
                f"{params['min']:g}–{params['max']:g} {unit} for {since} min"
            ),
            {"min": params["min"], "max": params["max"]},
            None,
        )
    if kind == Kind.THRESHOLD:
        metric = params["metric"]
        unit = METRIC_BY_NAME[metric].unit
        low = params.get("below")
        high = params.get("above")

        def words(metric: str, value: float, since: int) -> str:
            side = f"above {high:g}" if high is not None and value > high else f"below {low:g}"
            return f"{hive_name}: {metric.replace('_', ' ')} {value:g} {unit}, {side} {unit} for {since} min"

        both = metric == "temperature" and low is not None and high is not None
        limits = {}
        if low is not None:
            limits["min" if both else "below"] = low
        if high is not None:
            limits["max" if both else "above"] = high
        return _sustained(
            (Band(metric, low, high),),
            params["for_minutes"],
            data,
            readings,
            active,
            words,
            limits,
            suppressed if metric == "weight" else None,
        )
    if kind == Kind.LOW_BATTERY:
        return _sustained(
            (Band("battery", params["below"], None, margin=BATTERY_HYSTERESIS_V),),
            params["for_minutes"],
            data,
            readings,
            active,
            lambda metric, value, since: (
                f"{hive_name}: battery {figure(metric, value)}, below "
                f"{figure(metric, params['below'])} for {since} minutes"
            ),
            {"below": params["below"]},
            None,
        )
    if kind == Kind.WEAK_SIGNAL:
        watched = [
            (metric, params[f"{metric}_below"])
            for metric in ("rssi", "snr")
            if params.get(f"{metric}_below") is not None
        ]
        return _sustained(
            tuple(Band(metric, below, None) for metric, below in watched),
            params["for_minutes"],
            data,
            readings,
            active,
            lambda metric, value, since: (
                f"{hive_name}: weak signal, {_SIGNAL_WORDS[metric]} {figure(metric, value)}, "
                f"below {figure(metric, params[f'{metric}_below'])} for {since} minutes"
            ),
            {f"{metric}_below": below for metric, below in watched},
            None,
        )
    return Outcome(data=data)  # no_data: nothing per reading


def _swarm(
    params: dict[str, Any],
    data: dict[str, Any],
    readings: Sequence[ValidReading],
    epochs: Sequence[float] | None,
    active: bool,
    hive_name: str,
    suppressed: Callable[[datetime], bool] | None,
) -> Outcome:
    """A batch in which no swarm is possible (its heaviest reading, or the window's before
    it, less its lightest is under drop_kg: the usual case) only rebuilds the window's
    queue from its tail, with C-speed min/max; anything else goes reading by reading."""
    weights = [reading.weight for reading in readings]
    if suppressed is None and None not in weights:
        known = cast("list[float]", weights)  # None is not in it: checked just above
        window = params["window_minutes"] * 60
        first, last = readings[0].time.timestamp(), readings[-1].time.timestamp()
        kept = [item for item in data.get("window") or () if item[0] >= first - window]
        top = max(known)
        if kept:
            top = max(top, kept[0][1])  # the queue's front is its heaviest
        if top - min(known) < params["drop_kg"]:
            cutoff = last - window
            oldest = bisect.bisect_left(
                readings, datetime.fromtimestamp(cutoff, UTC), key=lambda reading: reading.time
            )
            queue: list[list[float]] = []
            heaviest = float("-inf")
            for index in range(len(weights) - 1, oldest - 1, -1):
                if known[index] > heaviest:
                    heaviest = known[index]
                    queue.append([readings[index].time.timestamp(), heaviest])
            for item in reversed(kept):
                if item[0] >= cutoff and item[1] > heaviest:
                    heaviest = item[1]
                    queue.append(list(item))
            queue.reverse()
            return Outcome(data={"window": queue})
    if epochs is None:
        epochs = [reading.time.timestamp() for reading in readings]
    return _swarm_each(params, data, readings, epochs, active, hive_name, suppressed)


def _swarm_each(
    params: dict[str, Any],
    data: dict[str, Any],
    readings: Sequence[ValidReading],
    epochs: Sequence[float],
    active: bool,
    hive_name: str,
    suppressed: Callable[[datetime], bool] | None,
) -> Outcome:
    window = params["window_minutes"] * 60
    drop = params["drop_kg"]
    queue: deque[list[float]] = deque(data.get("window") or ())
    outcome = Outcome(data={})
    for reading, now in zip(readings, epochs, strict=True):
        weight = reading.weight
        if weight is None:
            continue
        if suppressed is not None and suppressed(reading.time):
            queue.clear()  # the scale is being handled: the baseline restarts after
            continue
        while queue and queue[0][0] < now - window:
            queue.popleft()
        if queue and queue[0][1] - weight >= drop:
            since, top = queue[0]
            if not active:
                lost = top - weight
                minutes = _minutes(now - since)
                outcome.actions.append(
                    (
                        "fire",
                        Fire(
                            at=reading.time,
                            message=f"{hive_name} lost {lost:.1f} kg in {minutes} min"
                            " — possible swarm",
                            values={
                                "weight_before_kg": round(top, 3),
                                "weight_after_kg": round(weight, 3),
                                "lost_kg": round(lost, 3),
                                "minutes": minutes,
                                "since": _at(since),
                            },
                        ),
                    )
                )
                active = True
            queue.clear()
        while queue and queue[-1][1] <= weight:
            queue.pop()
        queue.append([now, weight])
    outcome.data = {"window": [list(item) for item in queue]}
    return outcome


@dataclass(frozen=True)
class Band:
    """A metric's range for a sustained rule: a reading outside ``low``–``high`` (None:
    unbounded) counts toward the alert. A raised alert ends only at a reading ``margin``
    inside the range (hysteresis); a reading in range but within the margin keeps a
    raised alert, and ends an excursion that has not raised one yet (the value must
    stay out for the whole duration)."""

    metric: str
    low: float | None
    high: float | None
    margin: float = 0.0

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(low, high, clear low, clear high), unbounded sides as infinities."""
        lo = float("-inf") if self.low is None else self.low
        hi = float("inf") if self.high is None else self.high
        return lo, hi, lo + self.margin, hi - self.margin


def _sustained(
    bands: Sequence[Band],
    for_minutes: int,
    data: dict[str, Any],
    readings: Sequence[ValidReading],
    active: bool,
    words: Callable[[str, float, int], str],
    limits: dict[str, Any],
    suppressed: Callable[[datetime], bool] | None,
) -> Outcome:
    """A value out of its band for ``for_minutes`` fires, one back in (all the reading's
    banded metrics within their clear ranges) resolves. Several bands are one condition:
    a reading is out when any of its metrics is, and a reading without any of them
    counts neither way. ``words(metric, value, minutes)`` is the message; ``limits`` the
    thresholds the alert's values repeat."""
    hold = for_minutes * 60
    since: float | None = data.get("since")
    fired = bool(data.get("fired"))  # this excursion raised its alert already
    outcome = Outcome(data={})
    checks = [(band.metric, *band.bounds) for band in bands]
    # Each band's values (reading[index] is one of ValidReading's float-or-None fields).
    columns = [
        [cast("float | None", reading[_INDEX[band.metric]]) for reading in readings]
        for band in bands
    ]
    if suppressed is None and readings:
        # The usual batch is all in range (C-speed min/max): at most a resolve. A metric
        # the device does not send at all is left out; one sent by some readings only
        # takes the loop.
        sent = [
            (check, column)
            for check, column in zip(checks, columns, strict=True)
            if column.count(None) != len(column)
        ]
        if sent and all(None not in column for _, column in sent):
            if all(
                check[3] <= min(cast("list[float]", column))
                and max(cast("list[float]", column)) <= check[4]
                for check, column in sent
            ):
                if active:
                    outcome.actions.append(("resolve", readings[0].time))
                outcome.data = {"since": None, "fired": False}
                return outcome
    for position, reading in enumerate(readings):
        out: tuple[str, float] | None = None
        seen, clear = False, True
        for (metric, lo, hi, clear_lo, clear_hi), column in zip(checks, columns, strict=True):
            value = column[position]
            if value is None:
                continue
            seen = True
            if not lo <= value <= hi:
                clear = False
                if out is None:
                    out = (metric, value)
            elif not clear_lo <= value <= clear_hi:
                clear = False
        if not seen:
            continue
        if suppressed is not None and suppressed(reading.time):
            since, fired = None, False
            continue
        if out is None:
            # In range. Within the margin the raised alert holds; anything else ends the
            # excursion.
            if clear or not (active or fired):
                if active:
                    outcome.actions.append(("resolve", reading.time))
                    active = False
                since, fired = None, False
            continue
        now = reading.time.timestamp()
        if since is None:
            since = now
        if not active and not fired and now - since >= hold:
            metric, value = out
            figures: dict[str, Any] = {
                metric: value,
                "since": _at(since),
                "minutes": _minutes(now - since),
                **limits,
            }
            outcome.actions.append(
                (
                    "fire",
                    Fire(
                        at=reading.time,
                        message=words(metric, value, _minutes(now - since)),
                        values=figures,
                    ),
                )
            )
            active = fired = True
    outcome.data = {"since": since, "fired": fired}
    return outcome
