"""simulate_hives tells the truth: whose hives it feeds, what it will raise and when, and
what happens once it stops (#26)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from alerts.models import Alert
from alerts.services import alert_acknowledge, no_data_check
from apiary.models import Hive
from monitoring.simulation import HiveSimulator
from telemetry.models import Reading
from telemetry.services import readings_ingest
from telemetry.validation import iso_time
from tests.telemetry.conftest import DeviceHive, make_hive

pytestmark = pytest.mark.django_db(databases=["default", "telemetry"])
FLOW = pytest.mark.django_db(transaction=True, databases=["default", "telemetry"])


def _run(*args: str) -> str:
    out = StringIO()
    call_command("simulate_hives", *args, stdout=out)
    return out.getvalue()


def _live(*args: str) -> str:
    return _run("--live", "--every", "0", "--ticks", "1", *args)


# --- Whose hives ------------------------------------------------------------------------


def test_by_default_only_the_demo_beekeepers_hives_are_fed(bob) -> None:
    call_command("seed_demo", stdout=StringIO())
    bobs = make_hive(bob, "hive-bob-1")
    demo = list(Hive.objects.filter(apiary__owner__email="demo@beeapi.local"))

    out = _live()
    assert "Feeding the demo beekeeper's hives" in out
    for hive in demo:
        assert Reading.objects.filter(device_id=hive.device_id).count() == 1
    assert not Reading.objects.filter(device_id=bobs.device_id).exists()

    _run("--backfill-days", "0.01")
    assert not Reading.objects.filter(device_id=bobs.device_id).exists()

    # Named, another beekeeper's hives are fed: by owner, by id.
    _live("--user", "BOB@example.com")
    assert Reading.objects.filter(device_id=bobs.device_id).count() == 1
    assert Reading.objects.filter(device_id=demo[0].device_id).count() > 1  # the backfill's


def test_named_hives_only(alice_hive: DeviceHive, bob) -> None:
    bobs = make_hive(bob, "hive-bob-1")
    _live("--hive", str(alice_hive.hive.pk))
    assert Reading.objects.filter(device_id=alice_hive.device_id).count() == 1
    assert not Reading.objects.filter(device_id=bobs.device_id).exists()


def test_without_a_demo_beekeeper_hives_must_be_named(alice_hive: DeviceHive) -> None:
    with pytest.raises(CommandError, match="No demo beekeeper"):
        _live()
    with pytest.raises(CommandError, match="no beekeeper has this email"):
        _live("--user", "nobody@example.com")
    assert not Reading.objects.exists()


# --- Every duration ---------------------------------------------------------------------


@FLOW
@pytest.mark.parametrize("days", ["0.01", "0.001", "0.05"])
def test_a_backfill_of_minutes_works(alice_hive: DeviceHive, days: str) -> None:
    out = _run("--backfill-days", days, "--hive", str(alice_hive.hive.pk))
    assert "Backfill done" in out
    assert Reading.objects.filter(device_id=alice_hive.device_id).exists()


def test_a_backfill_of_nothing_is_an_error(alice_hive: DeviceHive) -> None:
    with pytest.raises(CommandError, match="above 0"):
        _run("--backfill-days", "0", "--hive", str(alice_hive.hive.pk))


# --- A backfill after a live run --------------------------------------------------------


@FLOW
def test_a_backfill_after_a_live_run_continues_its_weights(alice_hive: DeviceHive) -> None:
    """A live run on a fresh hive writes the simulator's weights with today's trend; a
    backfill of a week has a week of nectar behind it. Its readings must join the live
    ones (no step, no false "possible swarm")."""
    device = alice_hive.device_id
    live_at = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=10)
    for minute in range(3):  # what a three-minute live run on a fresh hive wrote,
        reading = HiveSimulator(device).reading_at(live_at + timedelta(minutes=minute))
        if minute == 2:  # its colony swarming at the end (a real alert)
            reading["weight"] -= 2.5
        readings_ingest(device_id=device, readings=[reading])
    [swarm] = Alert.objects.filter(hive=alice_hive.hive, kind="swarm")
    alert_acknowledge(alert=swarm, actor=alice_hive.hive.apiary.owner)  # a swarm ends here
    live = Reading.objects.filter(device_id=device).order_by("time")
    live_first, live_last = live.first(), live.last()

    out = _run("--backfill-days", "7", "--hive", str(alice_hive.hive.pk))

    assert "kept as stored" in out
    after = Reading.objects.filter(device_id=device, time__gt=live_last.time).order_by("time")
    assert after.count() >= 5
    assert abs(after[0].weight - live_last.weight) < 0.2
    before = Reading.objects.filter(device_id=device, time__lt=live_first.time).latest("time")
    assert abs(before.weight - live_first.weight) < 0.2
    # Nothing is written in between: the live readings stay alone there.
    assert Reading.objects.filter(device_id=device, time__gte=live_first.time,
                                  time__lte=live_last.time).count() == 3  # fmt: skip
    assert Alert.objects.filter(hive=alice_hive.hive, kind="swarm").count() == 1


# --- What will be raised, and when ------------------------------------------------------


def _minutes(out: str, kind: str, hive: Hive) -> int:
    match = re.search(rf"-> {kind} alert on hive {hive.pk} .*?in about (\d+) min", out)
    assert match, out
    return int(match.group(1))


def test_live_injections_say_which_alert_comes_when(alice) -> None:
    hives = [make_hive(alice, f"hive-alice-{n}").hive for n in range(3)]
    swarm, brood, silent = hives
    readings_ingest(
        device_id=silent.device_id,
        readings=[{"time": iso_time(datetime.now(UTC) - timedelta(minutes=1)), "weight": 40}],
    )

    out = _live("--swarm", str(swarm.pk), "--cold-brood", str(brood.pk), "--silent", str(silent.pk))

    # The default rules: 1.5 kg within 30 min; out of 32-36.5 °C for 30 min; 60 min silent.
    assert 2 <= _minutes(out, "swarm", swarm) <= 10
    assert 30 <= _minutes(out, "brood_temperature", brood) <= 45
    assert 58 <= _minutes(out, "no_data", silent) <= 60
    assert "rule " in out and "alice@example.com" in out and "1.5 kg within 30 min" in out
    # Stopping leaves silent sensors: the command says when no_data comes for each.
    assert "When this stops, the sensors are silent" in out and "60 min after" in out
    assert "send nothing more until simulate_hives runs again" in out
    assert out.count("no_data from") == 3


def test_a_rule_changed_by_the_beekeeper_changes_the_forecast(alice) -> None:
    from alerts.models import AlertRule

    hive = make_hive(alice, "hive-alice-1").hive
    AlertRule.objects.filter(user=alice, kind="brood_temperature").update(
        params={"min": 32.0, "max": 36.5, "for_minutes": 5}
    )
    out = _live("--cold-brood", str(hive.pk))
    assert 5 <= _minutes(out, "brood_temperature", hive) <= 15


def test_an_injection_no_rule_watches_says_so(alice) -> None:
    from alerts.models import AlertRule

    hive = make_hive(alice, "hive-alice-1").hive
    AlertRule.objects.filter(user=alice, kind="swarm").update(enabled=False)
    out = _live("--swarm", str(hive.pk))
    assert "no swarm alert: no enabled swarm rule applies" in out


@FLOW
def test_fast_raises_each_injected_alert_through_the_real_rules(alice, bob) -> None:
    """--fast replays each event from the past: the swarm and the cold nest are raised
    by the ingest's evaluation, the silent sensor by the worker's next check."""
    hives = [make_hive(alice, f"hive-alice-{n}").hive for n in range(3)]
    swarm, brood, silent = hives
    bobs = make_hive(bob, "hive-bob-1")

    out = _run(
        "--live", "--fast", "--every", "0", "--ticks", "2", "--user", "alice@example.com",
        "--swarm", str(swarm.pk), "--cold-brood", str(brood.pk), "--silent", str(silent.pk),
    )  # fmt: skip

    assert _minutes(out, "swarm", swarm) == 0 and "(tick 1," in out
    assert _minutes(out, "brood_temperature", brood) == 0
    assert _minutes(out, "no_data", silent) == 0
    [swarm_alert] = Alert.objects.filter(hive=swarm)
    assert swarm_alert.kind == "swarm" and "possible swarm" in swarm_alert.message
    [brood_alert] = Alert.objects.filter(hive=brood)
    assert brood_alert.kind == "brood_temperature" and brood_alert.resolved_at is None
    assert not Alert.objects.filter(hive=silent).exists()  # the worker's job
    [no_data] = no_data_check()
    assert no_data.hive == silent and no_data.kind == "no_data"
    assert no_data.values["silent_minutes"] >= 60
    # The replayed hives go on live; the silent one stays silent; bob's is not touched.
    newest = Reading.objects.filter(device_id=brood.device_id).latest("time").time
    assert datetime.now(UTC) - newest < timedelta(minutes=1)
    last_silent = Reading.objects.filter(device_id=silent.device_id).latest("time").time
    assert datetime.now(UTC) - last_silent > timedelta(minutes=60)
    assert not Reading.objects.filter(device_id=bobs.device_id).exists()


@FLOW
def test_fast_never_writes_over_stored_readings(alice) -> None:
    hive = make_hive(alice, "hive-alice-1").hive
    _run("--backfill-days", "0.05", "--hive", str(hive.pk))
    stored = Reading.objects.filter(device_id=hive.device_id).count()

    out = _run("--live", "--fast", "--every", "0", "--ticks", "1", "--cold-brood", str(hive.pk))

    assert "--fast: hive" in out and "run in real time" in out
    assert Reading.objects.filter(device_id=hive.device_id).count() == stored + 1
    assert 30 <= _minutes(out, "brood_temperature", hive) <= 45


def test_fast_is_for_live(alice_hive: DeviceHive) -> None:
    with pytest.raises(CommandError, match="--fast is for --live"):
        _run("--backfill-days", "1", "--fast", "--hive", str(alice_hive.hive.pk))


# --- After a backfill -------------------------------------------------------------------


@FLOW
def test_a_backfill_says_when_each_hive_raises_no_data(alice) -> None:
    hives = [make_hive(alice, f"hive-alice-{n}").hive for n in range(2)]
    out = _run(
        "--backfill-days", "0.1", "--user", "alice@example.com",
        "--silent", str(hives[1].pk), "--inject-minutes-ago", "50",
    )  # fmt: skip
    due = {
        int(hive): datetime.strptime(when, "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
        for hive, when in re.findall(r"hive (\d+) .*: no_data from (\S+ \S+) UTC", out)
    }
    now = datetime.now(UTC)
    assert timedelta(minutes=58) < due[hives[0].pk] - now < timedelta(minutes=61)
    assert timedelta(minutes=8) < due[hives[1].pk] - now < timedelta(minutes=11)
    # And it is true.
    assert no_data_check(now=due[hives[1].pk] + timedelta(minutes=1))[0].hive == hives[1]
