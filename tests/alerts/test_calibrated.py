"""Alerts judge calibrated values: a scale's calibration is what the beekeeper reads, and a
tare is no swarm."""

from __future__ import annotations

from datetime import timedelta

from alerts.models import Kind
from telemetry.services import calibration_add, calibration_tare
from tests.alerts.conftest import FLOW, alerts_of, day_start, replay


def drop(at, lost):
    return lambda t: 40.0 - (lost if t >= at else 0.0)


@FLOW
def test_a_raw_drop_that_calibrates_below_the_swarm_threshold_raises_nothing(hive):
    start = day_start()
    # The cell reads double: a 2 kg raw drop is 1 kg on the hive, below the 1.5 kg rule.
    calibration_add(device_id="scale-3", metric="weight", valid_from=start, multiplier=0.5)
    replay("scale-3", start, 120, weight=drop(start + timedelta(minutes=60), 2.0))
    assert alerts_of(hive, kind=Kind.SWARM) == []


@FLOW
def test_the_same_raw_drop_uncalibrated_is_a_swarm(hive):
    start = day_start()
    replay("scale-3", start, 120, weight=drop(start + timedelta(minutes=60), 2.0))
    assert len(alerts_of(hive, kind=Kind.SWARM)) == 1


@FLOW
def test_a_tare_is_not_a_swarm(hive):
    start = day_start()
    replay("scale-3", start, 30)
    # Tared at 00:30 with 40 kg on it: from then on it reads about 0 kg, 40 kg "less".
    calibration_tare(device_id="scale-3", at=start + timedelta(minutes=30))
    replay("scale-3", start + timedelta(minutes=30), 60)
    assert alerts_of(hive, kind=Kind.SWARM) == []
    # The swarm rule watches on from the tared values: a real swarm still raises it.
    later = start + timedelta(minutes=90)
    replay(
        "scale-3",
        later,
        60,
        weight=lambda t: 40.0 - (2.0 if t >= later + timedelta(minutes=20) else 0),
    )
    assert len(alerts_of(hive, kind=Kind.SWARM)) == 1
