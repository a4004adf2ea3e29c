"""The evaluation's fast paths (whole batches checked with min/max) decide exactly what the
reading-by-reading loops decide, on random days of readings."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from alerts import evaluation
from alerts.evaluation import evaluate
from telemetry.validation import ValidReading

START = datetime(2026, 6, 1, tzinfo=UTC)


def day(seed: int, *, step: int = 60, count: int = 600) -> list[ValidReading]:
    rng = random.Random(seed)
    weight, temperature = 40.0, 35.0
    readings = []
    for i in range(count):
        if rng.random() < 0.01:
            weight -= rng.uniform(0.5, 3.0)  # swarms, harvests
        weight += rng.gauss(0, 0.05)
        if rng.random() < 0.02:
            temperature = rng.choice([29.0, 31.5, 35.0, 37.5])
        readings.append(
            ValidReading(START + timedelta(seconds=i * step), temperature, 55.0, weight, 40.0)
        )
    return readings


def run(kind, params, readings, batch, suppressed=None):  # noqa: ANN001, ANN201
    data, active, actions = {}, False, []
    for offset in range(0, len(readings), batch):
        chunk = readings[offset : offset + batch]
        outcome = evaluate(
            kind=kind,
            params=params,
            data=data,
            readings=chunk,
            active=active,
            hive_name="Hive 3",
            suppressed=suppressed,
        )
        for action, detail in outcome.actions:
            actions.append((action, detail.at if action == "fire" else detail))
            # Swarm alerts wait for a human; the others end when resolved.
            active = action == "fire" or (kind == "swarm" and active)
        data = outcome.data
    return data, actions


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("batch", [1, 7, 60, 600])
def test_swarm_fast_path_matches_the_loop(seed: int, batch: int, monkeypatch) -> None:
    readings = day(seed)
    params = {"drop_kg": 1.5, "window_minutes": 30}
    fast = run("swarm", params, readings, batch)

    def loop_only(params, data, readings, epochs, *rest):  # noqa: ANN001, ANN202
        epochs = [reading.time.timestamp() for reading in readings]
        return evaluation._swarm_each(params, data, readings, epochs, *rest)

    monkeypatch.setattr(evaluation, "_swarm", loop_only)
    slow = run("swarm", params, readings, batch)
    assert fast == slow


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("batch", [1, 7, 60, 600])
@pytest.mark.parametrize(
    ("kind", "params"),
    [
        ("brood_temperature", {"min": 32.0, "max": 36.5, "for_minutes": 30}),
        ("threshold", {"metric": "temperature", "above": 36.0, "below": None, "for_minutes": 0}),
    ],
)
def test_sustained_fast_path_matches_the_loop(seed: int, batch: int, kind: str, params) -> None:
    readings = day(seed)
    assert run(kind, params, readings, batch) == run(
        kind, params, readings, batch, suppressed=lambda time: False
    )


def test_the_random_days_do_raise_alerts() -> None:
    """The comparisons above compare something: these days swarm and chill."""
    readings = day(3)
    assert run("swarm", {"drop_kg": 1.5, "window_minutes": 30}, readings, 60)[1]
    assert run("brood_temperature", {"min": 32.0, "max": 36.5, "for_minutes": 30}, readings, 60)[1]
