"""Realistic days replayed through the ingest service: what a beekeeper gets told."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext

from alerts import services
from alerts.models import Alert, AlertRule, Kind, Status
from apiary.models import Event
from telemetry.services import readings_ingest
from telemetry.validation import iso_time
from tests.alerts.conftest import (
    FLOW,
    alerts_of,
    day_start,
    normal_temperature,
    normal_weight,
    replay,
)
from tests.factories import EventFactory, HiveFactory


def swarm_weight(at, lost=2.1, minutes=10):
    def weight(t):
        w = normal_weight(t)
        if t >= at:
            w -= min(lost, lost * (t - at).total_seconds() / 60 / minutes)
        return w

    return weight


@FLOW
def test_an_ordinary_day_raises_nothing(hive):
    replay("scale-3", day_start(), 24 * 60)
    assert alerts_of(hive) == []


@FLOW
def test_a_swarm_gives_exactly_one_alert_that_stays_until_acknowledged(hive, alice):
    start = day_start()
    replay("scale-3", start, 24 * 60, weight=swarm_weight(start + timedelta(hours=14)))

    [alert] = alerts_of(hive)
    assert alert.kind == Kind.SWARM and alert.status == Status.OPEN
    assert alert.message.startswith("Hive 3 lost ") and "possible swarm" in alert.message
    assert alert.values["lost_kg"] >= 1.5
    assert start + timedelta(hours=14) < alert.started_at < start + timedelta(hours=14, minutes=10)
    # Ten hours of readings after the swarm did not resolve it: a swarm needs a human.
    assert alert.resolved_at is None
    # It is in the hive's history as an alert event.
    event = Event.objects.get(hive=hive, type=Event.Type.ALERT)
    assert event.notes == alert.message and event.details["alert"] == alert.pk

    services.alert_acknowledge(alert=alert, actor=alice)
    alert.refresh_from_db()
    assert alert.status == Status.ACKNOWLEDGED and alert.resolved_at is not None

    # A second swarm (the colony casts an afterswarm) is a new alert.
    next_day = day_start(0)
    replay(
        "scale-3",
        next_day,
        60,
        weight=lambda t: (
            normal_weight(t) - 2.1 - (2.0 if t >= next_day + timedelta(minutes=30) else 0)
        ),
    )
    assert len(alerts_of(hive, kind=Kind.SWARM)) == 2


@FLOW
def test_an_inspection_that_removes_3_kg_gives_no_alert(hive, alice):
    start = day_start()
    opened = start + timedelta(hours=11)

    def weight(t):
        w = normal_weight(t)
        if opened + timedelta(minutes=5) <= t < opened + timedelta(minutes=20):
            w -= 12.0  # the honey super is off the scale
        if t >= opened + timedelta(minutes=20):
            w -= 3.0  # two full frames taken out
        return w

    def before_batch(t):
        if t == opened:
            services.inspection_start(hive=hive, actor=alice, minutes=30, now=opened)

    replay("scale-3", start, 24 * 60, weight=weight, before_batch=before_batch)
    assert alerts_of(hive) == []
    # The window paused the alerts without recording an inspection of its own (#26).
    assert not Event.objects.filter(hive=hive, type=Event.Type.INSPECTION).exists()


@FLOW
def test_the_same_drop_without_an_inspection_is_a_swarm(hive):
    start = day_start()
    opened = start + timedelta(hours=11)
    replay(
        "scale-3",
        start,
        13 * 60,
        weight=lambda t: normal_weight(t) - (3.0 if t >= opened + timedelta(minutes=20) else 0),
    )
    assert [a.kind for a in alerts_of(hive)] == [Kind.SWARM]


@FLOW
def test_weight_changes_in_the_settle_margin_raise_nothing_and_the_baseline_restarts(hive, alice):
    start = day_start()
    opened = start + timedelta(hours=9)
    services_window = {"done": False}

    def before_batch(t):
        if t == opened and not services_window["done"]:
            services.inspection_start(hive=hive, actor=alice, minutes=10, now=opened)
            services_window["done"] = True

    # Boxes go back 5 minutes after the window closed (inside the 10-minute margin).
    back = opened + timedelta(minutes=15)
    replay(
        "scale-3",
        start,
        12 * 60,
        weight=lambda t: normal_weight(t) + (5.0 if opened <= t < back else 0.0),
        before_batch=before_batch,
    )
    assert alerts_of(hive) == []


def harvest_weight(at, kg=15.0):
    """The supers come off at ``at`` (two minutes of lifting) and stay off."""

    def weight(t):
        w = normal_weight(t)
        if t >= at:
            w -= min(kg, kg * ((t - at).total_seconds() / 60 + 1) / 2)
        return w

    return weight


@FLOW
@pytest.mark.parametrize("event_type", [Event.Type.HARVEST, Event.Type.BOX_REMOVED])
def test_a_drop_explained_by_a_harvest_or_a_removed_box_raises_no_swarm(hive, event_type):
    start = day_start()
    taken = start + timedelta(hours=11)
    # Recorded at the time of the drop, give or take the beekeeper's rounding.
    EventFactory(
        hive=hive, type=event_type, occurred_at=taken + timedelta(minutes=10), details={"kg": 15}
    )
    replay("scale-3", start, 24 * 60, weight=harvest_weight(taken))
    assert alerts_of(hive) == []


@FLOW
def test_the_same_harvest_without_its_event_is_a_swarm(hive):
    start = day_start()
    replay("scale-3", start, 13 * 60, weight=harvest_weight(start + timedelta(hours=11)))
    assert [a.kind for a in alerts_of(hive)] == [Kind.SWARM]


@FLOW
def test_a_harvest_recorded_on_another_hive_explains_nothing(hive, alice):
    start = day_start()
    taken = start + timedelta(hours=11)
    neighbour = HiveFactory(apiary=hive.apiary, name="Hive 4", device_id="scale-4")
    EventFactory(hive=neighbour, type=Event.Type.HARVEST, occurred_at=taken, details={"kg": 15})
    EventFactory(hive=None, apiary=hive.apiary, type=Event.Type.HARVEST, occurred_at=taken)
    replay("scale-3", start, 13 * 60, weight=harvest_weight(taken))
    assert [a.kind for a in alerts_of(hive)] == [Kind.SWARM]


@FLOW
def test_a_harvest_hours_away_from_the_drop_explains_nothing(hive):
    start = day_start()
    taken = start + timedelta(hours=11)
    for hours in (-3, 2):
        EventFactory(
            hive=hive,
            type=Event.Type.HARVEST,
            occurred_at=taken + timedelta(hours=hours),
            details={"kg": 15},
        )
    replay("scale-3", start, 13 * 60, weight=harvest_weight(taken))
    [alert] = alerts_of(hive)
    assert alert.kind == Kind.SWARM
    assert taken <= alert.started_at < taken + timedelta(minutes=5)


def box_added_weight(at):
    """A 12 kg super goes on at ``at``, comes off again for two minutes at ``at`` + 3 min
    (the queen excluder is set right) and stays on."""

    def weight(t):
        w = normal_weight(t)
        if t >= at and not at + timedelta(minutes=3) <= t < at + timedelta(minutes=5):
            w += 12.0
        return w

    return weight


@FLOW
def test_an_added_box_and_its_jump_raise_nothing(hive):
    start = day_start()
    added = start + timedelta(hours=10)
    EventFactory(hive=hive, type=Event.Type.BOX_ADDED, occurred_at=added, details={"kg": 12})
    replay("scale-3", start, 24 * 60, weight=box_added_weight(added))
    assert alerts_of(hive) == []


@FLOW
def test_the_same_box_without_its_event_is_a_swarm(hive):
    start = day_start()
    replay("scale-3", start, 12 * 60, weight=box_added_weight(start + timedelta(hours=10)))
    assert [a.kind for a in alerts_of(hive)] == [Kind.SWARM]


@FLOW
@pytest.mark.parametrize("recorded", [True, False])
def test_a_weight_threshold_is_paused_around_a_removed_box_as_in_an_inspection(
    hive, alice, recorded
):
    start = day_start()
    taken = start + timedelta(hours=11)
    services.rule_create(
        actor=alice,
        kind=Kind.THRESHOLD,
        hive=hive,
        params={"metric": "weight", "below": 30, "for_minutes": 5},
    )
    if recorded:
        EventFactory(hive=hive, type=Event.Type.BOX_REMOVED, occurred_at=taken, details={"kg": 15})

    def weight(t):  # the box is off for 20 minutes, then back on
        return normal_weight(t) - (15.0 if taken <= t < taken + timedelta(minutes=20) else 0)

    replay("scale-3", start, 13 * 60, weight=weight)
    kinds = sorted(a.kind for a in alerts_of(hive))
    assert kinds == ([] if recorded else sorted([Kind.SWARM, Kind.THRESHOLD]))


@FLOW
def test_a_brood_dip_gives_one_alert_that_resolves_when_the_nest_warms_again(hive):
    start = day_start()
    cold_from, cold_to = start + timedelta(hours=3), start + timedelta(hours=4)

    def temperature(t):
        return 29.5 if cold_from <= t < cold_to else normal_temperature(t)

    replay("scale-3", start, 8 * 60, temperature=temperature)
    [alert] = alerts_of(hive)
    assert alert.kind == Kind.BROOD_TEMPERATURE
    assert alert.values["temperature"] == 29.5 and alert.values["min"] == 32.0
    # Raised once it had lasted for_minutes (30), resolved by the first warm reading.
    assert alert.started_at == cold_from + timedelta(minutes=30)
    assert alert.status == Status.RESOLVED and alert.resolved_at == cold_to


@FLOW
def test_a_short_chill_does_not_raise(hive):
    start = day_start()
    replay(
        "scale-3",
        start,
        6 * 60,
        temperature=lambda t: (
            31.0
            if start + timedelta(hours=2) <= t < start + timedelta(hours=2, minutes=25)
            else normal_temperature(t)
        ),
    )
    assert alerts_of(hive) == []


@FLOW
def test_a_silent_sensor_raises_no_data_and_the_next_reading_resolves_it(hive):
    start = day_start()
    replay("scale-3", start, 120)
    last = start + timedelta(minutes=119)
    assert services.no_data_check(now=last + timedelta(minutes=59)) == []
    [alert] = services.no_data_check(now=last + timedelta(minutes=61))
    assert alert.kind == Kind.NO_DATA and "no data from sensor scale-3" in alert.message
    # Checking again (another worker, the next period) raises nothing new.
    assert services.no_data_check(now=last + timedelta(minutes=90)) == []

    replay("scale-3", last + timedelta(minutes=95), 5)
    alert.refresh_from_db()
    assert alert.status == Status.RESOLVED
    assert alert.resolved_at == last + timedelta(minutes=95)


@FLOW
def test_readings_more_than_an_hour_late_are_history(hive):
    start = day_start()
    cold = [
        {"time": iso_time(start + timedelta(minutes=i)), "temperature": 25.0, "weight": 40.0}
        for i in range(90)
    ]
    # Sent two hours after the last of them: stored, but they raise nothing.
    readings_ingest(device_id="scale-3", readings=cold, now=start + timedelta(minutes=210))
    assert alerts_of(hive) == []


@FLOW
def test_a_threshold_rule_on_humidity(hive, alice):
    services.rule_create(
        actor=alice,
        kind=Kind.THRESHOLD,
        hive=hive,
        params={"metric": "humidity", "above": 80, "for_minutes": 5},
    )
    start = day_start()
    readings = [
        {"time": iso_time(start + timedelta(minutes=i)), "humidity": 85.0 if i >= 10 else 60.0}
        for i in range(20)
    ]
    readings_ingest(device_id="scale-3", readings=readings, now=start + timedelta(minutes=19))
    [alert] = alerts_of(hive)
    assert alert.kind == Kind.THRESHOLD
    assert "humidity 85 %, above 80 %" in alert.message
    assert alert.started_at == start + timedelta(minutes=15)


@FLOW
def test_a_disabled_default_rule_raises_nothing(hive, alice):
    AlertRule.objects.filter(user=alice, kind=Kind.SWARM).update(enabled=False)
    start = day_start()
    replay("scale-3", start, 16 * 60, weight=swarm_weight(start + timedelta(hours=14)))
    assert alerts_of(hive) == []


@FLOW
def test_rules_follow_the_hive_owner_and_members_rules_apply_too(hive, alice, bob):
    """Account-wide rules are the owner's. A member's rule on the apiary alerts the member;
    bob without a role in it gets nothing from his rules."""
    from apiary.models import Membership

    erin = HiveFactory().apiary.owner
    Membership.objects.create(apiary=hive.apiary, user=erin, email=erin.email, role="viewer")
    services.rule_create(actor=erin, kind=Kind.SWARM, apiary=hive.apiary)
    start = day_start()
    replay("scale-3", start, 16 * 60, weight=swarm_weight(start + timedelta(hours=14)))
    assert sorted(a.user.email for a in alerts_of(hive)) == sorted([alice.email, erin.email])
    assert not Alert.objects.filter(user=bob).exists()


@FLOW
def test_evaluation_queries_do_not_grow_with_the_batch(hive):
    start = day_start()

    def ingest(first, count):
        readings = [
            {
                "time": iso_time(start + timedelta(minutes=first + i)),
                "weight": 40.0,
                "temperature": 35.0,
            }
            for i in range(count)
        ]
        with CaptureQueriesContext(connections["default"]) as queries:
            readings_ingest(
                device_id="scale-3", readings=readings, now=start + timedelta(minutes=first + count)
            )
        return len(queries)

    ingest(0, 5)  # states created
    assert ingest(100, 10) == ingest(200, 1000)


@FLOW
def test_a_sensor_silent_since_before_its_rule_existed_is_watched_too(hive):
    """Readings stored without evaluation (before the alerts feature, or a rule added
    later): the worker starts watching the hive from its newest reading."""
    from telemetry.models import Reading

    last = day_start() + timedelta(hours=3)
    Reading.objects.bulk_create(
        [
            Reading(device_id="scale-3", time=last - timedelta(minutes=i), weight=40.0)
            for i in range(5)
        ]
    )
    never = HiveFactory(apiary=hive.apiary, device_id="never-sent")  # no readings: no alert
    [alert] = services.no_data_check(now=last + timedelta(minutes=61))
    assert alert.hive == hive and alert.values["last_reading_at"] == iso_time(last)
    assert not Alert.objects.filter(hive=never).exists()
    assert services.no_data_check(now=last + timedelta(minutes=90)) == []


@FLOW
def test_many_devices_in_one_commit_are_evaluated_in_one_pass(hive, alice, bob):
    """readings_ingest_many (an MQTT batch): each hive's rules see its own readings only,
    and the evaluation costs the same three round trips whatever the number of devices."""
    from telemetry.services import readings_ingest_many

    bobs = HiveFactory(apiary__owner=bob, name="Bob's", device_id="scale-b")
    quiet = HiveFactory(apiary__owner=bob, name="Quiet", device_id="scale-q")
    for owner, target in ((alice, hive), (bob, bobs), (bob, quiet)):
        services.rule_create(
            actor=owner,
            kind=Kind.THRESHOLD,
            hive=target,
            params={"metric": "humidity", "above": 80, "for_minutes": 5},
        )
    start = day_start()

    def minutes(humid_from: int | None) -> list[dict]:
        return [
            {
                "time": iso_time(start + timedelta(minutes=i)),
                "humidity": 85.0 if humid_from is not None and i >= humid_from else 60.0,
            }
            for i in range(20)
        ]

    with CaptureQueriesContext(connections["default"]) as queries:
        readings_ingest_many(
            [("scale-3", minutes(10)), ("scale-b", minutes(2)), ("scale-q", minutes(None))],
            now=start + timedelta(minutes=19),
        )
    [alice_alert] = alerts_of(hive)
    [bob_alert] = alerts_of(bobs)
    assert alerts_of(quiet) == []
    assert (alice_alert.started_at, bob_alert.started_at) == (
        start + timedelta(minutes=15),
        start + timedelta(minutes=7),
    )
    assert (alice_alert.user, bob_alert.user) == (alice, bob)
    contexts = [
        q
        for q in queries.captured_queries
        if "FROM unnest" in q["sql"] and "alert_rules" in q["sql"]
    ]
    assert len(contexts) == 1  # one context query for the three hives
