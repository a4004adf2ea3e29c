"""Sensor health: the low_battery and weak_signal rules (off unless a beekeeper adds one),
their evaluation, their params, and a low battery found on ingest."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from alerts import services
from alerts.evaluation import evaluate
from alerts.models import AlertRule, Kind, Status
from alerts.rules import params_default
from telemetry.services import readings_ingest
from telemetry.validation import ValidReading, iso_time
from tests.alerts.conftest import FLOW, alerts_of, day_start
from tests.factories import BeekeeperFactory

START = datetime(2026, 6, 1, tzinfo=UTC)


def reading(minute: int, **metrics: float | None) -> ValidReading:
    four = {name: None for name in ("temperature", "humidity", "weight", "sound_level")}
    return ValidReading(START + timedelta(minutes=minute), **{**four, **metrics})


def run(kind: str, params: dict[str, Any], readings: list[ValidReading], batch: int = 10):  # noqa: ANN201
    """The alerts' actions, batch by batch, as the ingest hook would see them: ("fire",
    minute, message) and ("resolve", minute)."""
    params = {**params_default(kind), **params}
    data: dict[str, Any] = {}
    active, actions = False, []
    for offset in range(0, len(readings), batch):
        outcome = evaluate(
            kind=kind,
            params=params,
            data=data,
            readings=readings[offset : offset + batch],
            active=active,
            hive_name="Hive 3",
        )
        for action, detail in outcome.actions:
            if action == "fire":
                minute = (detail.at - START) // timedelta(minutes=1)
                actions.append(("fire", minute, detail.message, detail.values))
                active = True
            else:
                actions.append(("resolve", (detail - START) // timedelta(minutes=1)))
                active = False
        data = outcome.data
    return actions


# --- low_battery ------------------------------------------------------------------------


def test_a_low_battery_fires_after_for_minutes_and_not_before() -> None:
    readings = [reading(i, battery=3.9 if i < 10 else 3.31) for i in range(40)]
    assert run("low_battery", {}, readings) == []  # low for 29 minutes: not yet

    readings.append(reading(40, battery=3.31))  # 30 minutes low
    [(action, minute, message, values)] = run("low_battery", {}, readings)
    assert (action, minute) == ("fire", 40)
    assert message == "Hive 3: battery 3.31 V, below 3.40 V for 30 minutes"
    assert values["battery"] == 3.31 and values["below"] == 3.4 and values["minutes"] == 30


def test_a_low_battery_resolves_only_0_1_v_above_the_threshold() -> None:
    def battery(i: int) -> float:
        if i < 40:
            return 3.3
        return 3.45 if i < 60 else 3.52  # over the threshold, then past the margin too

    actions = run("low_battery", {}, [reading(i, battery=battery(i)) for i in range(80)])
    assert [action[:2] for action in actions] == [("fire", 30), ("resolve", 60)]


def test_a_battery_dip_that_comes_back_before_for_minutes_raises_nothing() -> None:
    # Back to 3.45 V (inside the margin, above the threshold) ends the excursion: the
    # battery must stay below for the whole duration.
    battery = [3.3 if i % 20 < 19 else 3.45 for i in range(120)]
    assert run("low_battery", {}, [reading(i, battery=v) for i, v in enumerate(battery)]) == []


def test_readings_without_a_battery_count_neither_way() -> None:
    readings = []
    for i in range(60):
        # Every other reading carries only a temperature: no battery either way.
        readings.append(
            reading(i, battery=3.3) if i % 2 == 0 else reading(i, temperature=35.0, battery=None)
        )
    actions = run("low_battery", {"for_minutes": 30}, readings)
    assert [action[:2] for action in actions] == [("fire", 30)]
    assert run("low_battery", {}, [reading(i, temperature=35.0) for i in range(120)]) == []


# --- weak_signal ------------------------------------------------------------------------


def test_a_weak_rssi_fires_after_for_minutes_and_resolves() -> None:
    def rssi(i: int) -> float:
        return -120.0 if 5 <= i < 100 else -90.0

    readings = [reading(i, rssi=rssi(i), snr=5.0) for i in range(110)]
    assert run("weak_signal", {}, readings[:65]) == []  # weak for 59 minutes
    actions = run("weak_signal", {}, readings)
    assert [action[:2] for action in actions] == [("fire", 65), ("resolve", 100)]
    assert actions[0][2] == "Hive 3: weak signal, RSSI -120 dBm, below -115 dBm for 60 minutes"
    assert actions[0][3]["rssi"] == -120.0 and actions[0][3]["snr_below"] == -10.0


def test_a_weak_snr_alone_fires_and_either_metric_keeps_it_weak() -> None:
    # snr weak for the first 40 minutes, then rssi for 30: weak for 70 minutes together.
    readings = [
        reading(i, rssi=-100.0 if i < 40 else -118.0, snr=-12.5 if i < 40 else 3.0)
        for i in range(70)
    ]
    actions = run("weak_signal", {"for_minutes": 60}, readings)
    assert [action[:2] for action in actions] == [("fire", 60)]
    assert "RSSI -118 dBm" in actions[0][2]

    snr_only = [reading(i, snr=-12.5) for i in range(31)]
    [fire] = run("weak_signal", {"for_minutes": 30}, snr_only)
    assert fire[2] == "Hive 3: weak signal, signal-to-noise -12.5 dB, below -10.0 dB for 30 minutes"


def test_signal_readings_without_rssi_or_snr_count_neither_way() -> None:
    readings = [
        reading(i, rssi=-120.0) if i % 3 == 0 else reading(i, battery=3.9) for i in range(90)
    ]
    assert [action[:2] for action in run("weak_signal", {}, readings)] == [("fire", 60)]
    assert run("weak_signal", {}, [reading(i, battery=3.9) for i in range(200)]) == []


def test_a_metric_set_to_null_is_not_watched() -> None:
    readings = [reading(i, rssi=-140.0, snr=5.0) for i in range(120)]
    assert run("weak_signal", {"rssi_below": None}, readings) == []
    assert run("weak_signal", {"snr_below": None}, readings) != []


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("batch", [1, 7, 60])
@pytest.mark.parametrize(
    ("kind", "params"),
    [("low_battery", {"for_minutes": 20}), ("weak_signal", {"for_minutes": 20})],
)
def test_the_fast_path_decides_what_the_loop_decides(seed, batch, kind, params) -> None:
    """Random days whose readings carry the metrics now and then; ``suppressed`` forces the
    reading-by-reading loop."""
    rng = random.Random(seed)
    battery, rssi, snr = 3.6, -100.0, 2.0
    readings = []
    for i in range(600):
        if rng.random() < 0.03:
            battery = rng.choice([3.3, 3.42, 3.55, 3.8])
            rssi = rng.choice([-125.0, -110.0, -90.0])
            snr = rng.choice([-15.0, 0.0, 8.0])
        sends = rng.random() < 0.7
        readings.append(
            reading(
                i,
                battery=battery if sends else None,
                rssi=rssi if sends else None,
                snr=snr if sends and rng.random() < 0.5 else None,
            )
        )
    full = {**params_default(kind), **params}

    def actions(suppressed):  # noqa: ANN001, ANN202
        data: dict[str, Any] = {}
        active, out = False, []
        for offset in range(0, len(readings), batch):
            outcome = evaluate(
                kind=kind,
                params=full,
                data=data,
                readings=readings[offset : offset + batch],
                active=active,
                hive_name="Hive 3",
                suppressed=suppressed,
            )
            for action, detail in outcome.actions:
                out.append((action, detail.at if action == "fire" else detail))
                active = action == "fire"
            data = outcome.data
        return data, out

    fast = actions(None)
    assert fast == actions(lambda time: False)
    assert fast[1], "the day raises alerts, so the comparison compares something"


# --- Defaults and params ----------------------------------------------------------------


@pytest.mark.django_db
def test_health_rules_are_off_unless_added_and_come_with_defaults(as_alice, alice, alice_hive):
    assert not AlertRule.objects.filter(
        user=alice, kind__in=[Kind.LOW_BATTERY, Kind.WEAK_SIGNAL]
    ).exists()
    assert not BeekeeperFactory().alert_rules.filter(kind=Kind.LOW_BATTERY).exists()

    response = as_alice.post("/alert-rules", {"kind": "low_battery"}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["params"] == {"below": 3.4, "for_minutes": 30}
    assert response.json()["scope"] == "account" and response.json()["enabled"] is True
    response = as_alice.post(
        "/alert-rules",
        {"kind": "weak_signal", "hive": alice_hive.pk, "params": {"snr_below": None}},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["params"] == {"rssi_below": -115.0, "snr_below": None, "for_minutes": 60}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kind", "params", "words"),
    [
        ("low_battery", {"below": "3.3"}, "below: Must be a number"),
        ("low_battery", {"below": True}, "below: Must be a number"),
        ("low_battery", {"below": 31}, "below: Ensure this value is less than or equal to 30"),
        ("low_battery", {"below": -1}, "below: Ensure this value is greater than or equal to 0"),
        ("low_battery", {"for_minutes": 0}, "for_minutes"),
        ("low_battery", {"for_minutes": 1441}, "for_minutes"),
        ("low_battery", {"for_minutes": 30.5}, "for_minutes: Must be a whole number"),
        ("low_battery", {"volts": 3.3}, "volts: not a parameter"),
        (
            "weak_signal",
            {"rssi_below": 5},
            "rssi_below: Ensure this value is less than or equal to 0",
        ),
        ("weak_signal", {"rssi_below": -151}, "rssi_below"),
        ("weak_signal", {"snr_below": -31}, "snr_below"),
        ("weak_signal", {"snr_below": "low"}, "snr_below: Must be a number"),
        ("weak_signal", {"rssi_below": None, "snr_below": None}, "rssi_below: Give rssi_below"),
        ("weak_signal", {"for_minutes": 2000}, "for_minutes"),
    ],
)
def test_bad_health_params_are_400s_naming_the_field(as_alice, kind, params, words):
    before = AlertRule.objects.count()
    response = as_alice.post("/alert-rules", {"kind": kind, "params": params}, format="json")
    assert response.status_code == 400, response.json()
    assert words in str(response.json()["params"]), response.json()
    assert AlertRule.objects.count() == before


@pytest.mark.django_db
def test_changing_a_health_rule_is_validated_too(as_alice, alice):
    rule = services.rule_create(actor=alice, kind=Kind.LOW_BATTERY)
    response = as_alice.patch(f"/alert-rules/{rule.pk}", {"params": {"below": 99}}, format="json")
    assert response.status_code == 400 and "below" in str(response.json()["params"])
    response = as_alice.patch(f"/alert-rules/{rule.pk}", {"params": {"below": 3.6}}, format="json")
    assert response.status_code == 200 and response.json()["params"]["below"] == 3.6


# --- On ingest --------------------------------------------------------------------------


@FLOW
def test_a_low_battery_on_ingest_raises_one_alert_and_resolves_after_charging(hive, alice):
    services.rule_create(actor=alice, kind=Kind.LOW_BATTERY, hive=hive)
    start = day_start()

    def battery(i: int) -> float | None:
        if i % 5 == 4:
            return None  # a reading without the battery
        return 3.31 if 20 <= i < 90 else 3.8

    for offset in range(0, 120, 10):
        readings = []
        for i in range(offset, offset + 10):
            item: dict[str, Any] = {"time": iso_time(start + timedelta(minutes=i)), "weight": 40.0}
            if battery(i) is not None:
                item["battery"] = battery(i)
            readings.append(item)
        readings_ingest(
            device_id="scale-3", readings=readings, now=start + timedelta(minutes=offset + 9)
        )
    [alert] = alerts_of(hive)
    assert alert.kind == Kind.LOW_BATTERY and alert.user == alice
    assert alert.message == "Hive 3: battery 3.31 V, below 3.40 V for 30 minutes"
    assert alert.started_at == start + timedelta(minutes=50)
    assert alert.status == Status.RESOLVED and alert.resolved_at == start + timedelta(minutes=90)
