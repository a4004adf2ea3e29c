"""simulate_hives: realistic, idempotent readings through the ingestion service."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Max, Min

from telemetry.models import Reading
from telemetry.simulation import HiveSimulator
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
    call_command("simulate_hives", "--live", "--every", "0", "--ticks", "1", stdout=StringIO())
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
