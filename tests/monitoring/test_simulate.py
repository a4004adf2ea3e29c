"""simulate_hives: realistic, idempotent readings through the ingestion service."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Max, Min

from alerts.models import Alert
from monitoring.simulation import (
    COLD_BROOD,
    COOLING_MINUTES,
    SILENT,
    SWARM,
    WARMING_MINUTES,
    HiveSimulator,
)
from telemetry.models import Reading
from tests.telemetry.conftest import DeviceHive, make_hive

pytestmark = pytest.mark.django_db(databases=["default", "telemetry"])


def test_backfill_is_idempotent_and_plausible(alice_hive: DeviceHive, bob) -> None:
    other = make_hive(bob, "hive-bob-1")
    out = StringIO()
    call_command(
        "simulate_hives",
        "--backfill-days",
        "1",
        "--interval",
        "300",
        "--hive",
        str(alice_hive.hive.pk),
        stdout=out,
    )
    readings = Reading.objects.filter(device_id=alice_hive.device_id)
    assert 287 <= readings.count() <= 289
    assert not Reading.objects.filter(device_id=other.device_id).exists()
    assert "[1/1] hive-alice-1" in out.getvalue()
    stats = readings.aggregate(
        tmin=Min("temperature"),
        tmax=Max("temperature"),
        hmin=Min("humidity"),
        hmax=Max("humidity"),
        wmin=Min("weight"),
        wmax=Max("weight"),
    )
    assert 33.5 < stats["tmin"] <= stats["tmax"] < 36.5
    assert 50 <= stats["hmin"] <= stats["hmax"] <= 65
    assert 0 < stats["wmax"] - stats["wmin"] < 8

    out = StringIO()
    call_command(
        "simulate_hives",
        "--backfill-days",
        "1",
        "--interval",
        "300",
        "--device",
        alice_hive.device_id,
        stdout=out,
    )
    assert "0 readings stored" in out.getvalue()


def test_live_ticks_ingest_one_reading_per_hive(alice_hive: DeviceHive, bob) -> None:
    other = make_hive(bob, "hive-bob-1")
    call_command(
        "simulate_hives", "--live", "--every", "0", "--ticks", "1", "--all", stdout=StringIO()
    )
    assert Reading.objects.filter(device_id=alice_hive.device_id).count() == 1
    assert Reading.objects.filter(device_id=other.device_id).count() == 1


def test_no_hives_is_an_error(db: None) -> None:
    with pytest.raises(CommandError):
        call_command("simulate_hives", "--backfill-days", "1", "--hive", "424242")


def test_swarm_drops_weight_by_one_and_a_half_to_three_kilos() -> None:
    simulator = HiveSimulator("swarmy")
    start = datetime(2026, 5, 1, tzinfo=UTC)
    swarm_days = [
        day
        for day in (start.date() + timedelta(days=n) for n in range(400))
        if simulator._day(day).swarm_at is not None
    ]
    assert swarm_days, "a colony swarms now and then"
    day = swarm_days[0]
    swarm_hour = simulator._day(day).swarm_at
    fresh = HiveSimulator("swarmy")
    midnight = datetime.combine(day, datetime.min.time(), UTC)
    before = fresh.reading_at(midnight + timedelta(hours=swarm_hour - 0.05))["weight"]
    after = fresh.reading_at(midnight + timedelta(hours=swarm_hour + 0.3))["weight"]
    assert 1.3 < before - after < 3.3


def test_live_goes_on_from_the_newest_stored_reading(alice_hive: DeviceHive) -> None:
    # Far from any simulated weight: a live series that restarted its own trend would
    # jump kilos here, which looks like a swarm.
    last = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30)
    Reading.objects.create(device_id=alice_hive.device_id, time=last, weight=90.0)

    call_command(
        "simulate_hives", "--live", "--ticks", "1", "--every", "0", "--hive",
        str(alice_hive.hive.pk), stdout=StringIO(),
    )  # fmt: skip

    newest = Reading.objects.filter(device_id=alice_hive.device_id).latest("time")
    assert newest.time > last
    assert abs(newest.weight - 90.0) < 0.5


# --- Injected events --------------------------------------------------------------------

AT = datetime(2026, 6, 3, 11, 30, tzinfo=UTC)  # a working day's late morning


def _series(simulator: HiveSimulator, start: datetime, minutes: int) -> list[dict]:
    return list(simulator.readings(start, start + timedelta(minutes=minutes), 60))


def test_injected_swarm_loses_two_to_three_kilos_within_about_ten_minutes() -> None:
    plain = HiveSimulator("inject-1")
    swarming = HiveSimulator("inject-1")
    event = swarming.inject(SWARM, AT)
    assert 2.0 <= event.amount <= 3.0 and 8 <= event.minutes <= 12
    assert "swarm" in event.describe() and "2026-06-03 11:30:00 UTC" in event.describe()

    before = _series(plain, AT - timedelta(minutes=30), 90)
    after = _series(swarming, AT - timedelta(minutes=30), 90)
    by_time = {r["time"]: r for r in before}
    for reading in after:
        when = datetime.fromisoformat(reading["time"])
        lost = by_time[reading["time"]]["weight"] - reading["weight"]
        if when < AT:
            assert reading == by_time[reading["time"]]  # nothing changes before it
        elif when >= AT + timedelta(minutes=12):
            assert abs(lost - event.amount) < 0.005  # all gone, for good
    # What a scale sees: a drop of 2-3 kg from just before to ten-odd minutes after.
    weight = {datetime.fromisoformat(r["time"]): r["weight"] for r in after}
    drop = weight[AT - timedelta(minutes=1)] - weight[AT + timedelta(minutes=12)]
    assert 1.8 < drop < 3.3
    assert max(r["sound_level"] for r in after) > max(r["sound_level"] for r in before) + 10

    # Deterministic per device and time.
    again = HiveSimulator("inject-1")
    assert again.inject(SWARM, AT) == event
    assert _series(again, AT - timedelta(minutes=30), 90) == after
    assert HiveSimulator("inject-2").inject(SWARM, AT) != event


def test_injected_cold_brood_nest_stays_at_29_to_30_degrees_then_recovers() -> None:
    simulator = HiveSimulator("inject-1")
    event = simulator.inject(COLD_BROOD, AT)
    assert 29.0 <= event.amount <= 30.0 and 45 <= event.minutes <= 60
    series = _series(simulator, AT - timedelta(minutes=30), 180)
    temperature = {datetime.fromisoformat(r["time"]): r["temperature"] for r in series}
    before = [t for when, t in temperature.items() if when < AT]
    assert all(33.5 < t < 36.5 for t in before)
    plateau = [
        t
        for when, t in temperature.items()
        if AT + timedelta(minutes=COOLING_MINUTES) <= when <= AT + timedelta(minutes=event.minutes)
    ]
    assert plateau and all(28.7 < t < 30.3 for t in plateau)
    cold = [when for when, t in temperature.items() if t < 32]
    assert 45 <= (max(cold) - min(cold)).total_seconds() / 60 <= 62
    assert min(cold) <= AT + timedelta(minutes=6)
    recovered = AT + timedelta(minutes=event.minutes + WARMING_MINUTES)
    assert all(33.5 < t < 36.5 for when, t in temperature.items() if when >= recovered)
    assert not event.under_way(recovered + timedelta(seconds=1)) and event.under_way(
        AT + timedelta(minutes=50)
    )


def test_cold_brood_pattern_raises_and_resolves_the_default_brood_rule() -> None:
    """The injected pattern against the alerts' own evaluation (pure, no database)."""
    from alerts import rules
    from alerts.evaluation import evaluate
    from alerts.models import Kind
    from telemetry.validation import readings_validate

    simulator = HiveSimulator("inject-1")
    simulator.inject(COLD_BROOD, AT)
    series = _series(simulator, AT - timedelta(minutes=30), 180)
    valid, _ = readings_validate(series, device_id="inject-1", now=AT + timedelta(hours=3))
    outcome = evaluate(
        kind=Kind.BROOD_TEMPERATURE,
        params=rules.params_default(Kind.BROOD_TEMPERATURE),
        data={},
        readings=valid,
        active=False,
        hive_name="Hive",
    )
    assert [action for action, _ in outcome.actions] == ["fire", "resolve"]
    fire = outcome.actions[0][1]
    assert AT + timedelta(minutes=30) <= fire.at <= AT + timedelta(minutes=40)


def test_a_silenced_sensor_sends_nothing_from_then_on() -> None:
    simulator = HiveSimulator("inject-1")
    simulator.inject(SILENT, AT)
    series = _series(simulator, AT - timedelta(minutes=10), 60)
    assert len(series) == 10
    assert max(datetime.fromisoformat(r["time"]) for r in series) < AT
    assert simulator.sends(AT - timedelta(seconds=1)) and not simulator.sends(AT)
    assert not simulator.sends(AT + timedelta(days=3))


def test_unknown_injection_is_refused() -> None:
    with pytest.raises(ValueError, match="Unknown injection"):
        HiveSimulator("inject-1").inject("plague", AT)


# --- The command: injections raise alerts end to end ---------------------------------------

FLOW = pytest.mark.django_db(transaction=True, databases=["default", "telemetry"])


def _backfill(*args: str) -> str:
    out = StringIO()
    call_command("simulate_hives", "--backfill-days", "0.1", "--interval", "60", *args, stdout=out)
    return out.getvalue()


def _natural_swarm_lately(device_id: str) -> bool:
    """The simulator's own 2 %-a-day swarms: one in the last hour would alert too."""
    simulator = HiveSimulator(device_id)
    now = datetime.now(UTC)
    for day in {now.date(), (now - timedelta(hours=2)).date()}:
        swarm_at = simulator._day(day).swarm_at
        if swarm_at is not None:
            at = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=swarm_at)
            if now - timedelta(hours=2) <= at <= now:
                return True
    return False


@FLOW
def test_backfill_with_a_swarm_raises_one_swarm_alert(alice_hive: DeviceHive, bob) -> None:
    hive = alice_hive.hive
    other = make_hive(bob, "hive-bob-1")
    out = _backfill("--hive", str(other.hive.pk), "--swarm", str(hive.pk))

    assert f"Injected on hive {hive.pk} 'Hive hive-alice-1' (hive-alice-1): swarm at" in out
    assert "[1/2]" in out and "[2/2]" in out  # the injected hive is simulated too
    alerts = list(Alert.objects.filter(hive=hive))
    assert [(a.kind, a.status, a.resolved_at) for a in alerts] == [("swarm", "open", None)]
    assert "possible swarm" in alerts[0].message
    assert 1.5 <= alerts[0].values["lost_kg"] <= 3.3
    started = datetime.now(UTC) - alerts[0].started_at
    assert timedelta(minutes=30) < started < timedelta(minutes=46)
    if not _natural_swarm_lately(other.device_id):
        assert not Alert.objects.filter(hive=other.hive).exists()

    # Run again over the same span: the readings are stored, nothing new is raised.
    out = _backfill("--swarm", hive.device_id)
    assert "already stored" in out and "may not show" in out
    assert Alert.objects.filter(hive=hive).count() == 1


@FLOW
def test_backfill_with_a_cold_brood_nest_raises_one_brood_alert(
    alice_hive: DeviceHive,
) -> None:
    hive = alice_hive.hive
    out = _backfill("--cold-brood", hive.device_id)

    assert "cold brood nest from" in out
    brood = list(Alert.objects.filter(hive=hive, kind="brood_temperature"))
    assert len(brood) == 1
    assert "brood temperature" in brood[0].message and 28.7 < brood[0].values["temperature"] < 32
    # Still cold when the backfill ends (it recovers 0-15 min later): open.
    assert brood[0].status == "open" and brood[0].resolved_at is None
    if not _natural_swarm_lately(hive.device_id):
        assert not Alert.objects.filter(hive=hive).exclude(kind="brood_temperature").exists()


@FLOW
def test_backfill_with_a_silent_sensor_leaves_no_data_to_the_worker(
    alice_hive: DeviceHive, bob
) -> None:
    from alerts.services import no_data_check

    hive = alice_hive.hive
    other = make_hive(bob, "hive-bob-1")
    out = _backfill(
        "--silent", str(hive.pk), "--hive", str(other.hive.pk), "--inject-minutes-ago", "50"
    )

    assert "silent sensor from" in out and "no_data from" in out
    last = Reading.objects.filter(device_id=hive.device_id).latest("time").time
    assert timedelta(minutes=50) < datetime.now(UTC) - last < timedelta(minutes=52)
    newest_other = Reading.objects.filter(device_id=other.device_id).latest("time").time
    assert datetime.now(UTC) - newest_other < timedelta(minutes=2)

    assert no_data_check() == []  # 50 minutes are not 60 yet
    raised = no_data_check(now=datetime.now(UTC) + timedelta(minutes=11))
    assert [(a.hive_id, a.kind) for a in raised] == [(hive.pk, "no_data")]


def test_live_injections_start_at_the_first_tick(alice_hive: DeviceHive, bob) -> None:
    other = make_hive(bob, "hive-bob-1")
    out = StringIO()
    call_command(
        "simulate_hives", "--live", "--every", "0", "--ticks", "1",
        "--silent", alice_hive.device_id, "--swarm", str(other.hive.pk), stdout=out,
    )  # fmt: skip
    text = out.getvalue()
    assert not Reading.objects.filter(device_id=alice_hive.device_id).exists()
    assert Reading.objects.filter(device_id=other.device_id).count() == 1
    tick = next(line for line in text.splitlines() if " tick 1: " in line)
    assert "1 readings" in tick and "hive-alice-1 silent" in tick and "hive-bob-1 swarm" in tick
    assert f"swarm at {datetime.now(UTC):%Y-%m-%d} {tick[:8]} UTC" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--backfill-days", "1", "--swarm", "no-such-device"], "no hive has this id"),
        (["--live", "--ticks", "1", "--inject-minutes-ago", "5"], "for --backfill-days"),
        (["--backfill-days", "0.01", "--cold-brood", "hive-alice-1"], "within the backfill"),
    ],
)
def test_injection_mistakes_are_errors(
    alice_hive: DeviceHive, args: list[str], message: str
) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("simulate_hives", *args, stdout=StringIO())
    assert not Reading.objects.exists()


def test_a_value_naming_two_hives_is_an_error(alice_hive: DeviceHive, bob) -> None:
    make_hive(bob, str(alice_hive.hive.pk))  # a device id that is another hive's id
    with pytest.raises(CommandError, match="give a device id"):
        call_command("simulate_hives", "--backfill-days", "1", "--swarm", str(alice_hive.hive.pk))
