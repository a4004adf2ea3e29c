"""When the simulator's injected events raise their alerts, from the rules in effect.

``simulate_hives`` says this before it starts: which alert each injection raises on which
hive and about when. The swarm and brood-nest rules are run over the simulator's own
coming readings with the real evaluation (alerts.evaluation.evaluate) and each rule's
own parameters; no_data is the worker's: the hive's last reading (as its state holds it)
plus the rule's minutes, at the worker's next check.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from alerts import selectors
from alerts.evaluation import evaluate
from alerts.models import Alert, AlertRule, AlertState, Kind
from alerts.services import NO_DATA_WATCH_MAX
from apiary.models import Hive
from monitoring.simulation import COLD_BROOD, SILENT, SWARM, HiveSimulator, Injection
from telemetry.validation import readings_validate

# The alert kind each injection is meant to raise.
RAISES = {SWARM: Kind.SWARM, COLD_BROOD: Kind.BROOD_TEMPERATURE, SILENT: Kind.NO_DATA}
# Readings before the event that the forecast evaluates too (the swarm rule's baseline).
LEAD_IN = timedelta(minutes=10)
HORIZON = timedelta(hours=3)


@dataclass(frozen=True)
class Forecast:
    """What one rule does about one injection: ``at`` is the time of the reading that
    raises the alert (no_data: the time from which the worker raises it), None when it
    raises nothing; ``why`` says why not, or what holds it back."""

    rule: AlertRule
    at: datetime | None
    why: str = ""


def rules_in_effect(*, hive: Hive, kind: str) -> list[AlertRule]:
    """The enabled rules of ``kind`` that evaluate ``hive`` (every user's), oldest first."""
    return list(
        selectors.rules_for_hive(hive=hive).filter(kind=kind).select_related("user").order_by("id")
    )


def describe_rule(rule: AlertRule) -> str:
    params = rule.params
    if rule.kind == Kind.SWARM:
        limits = f"{params['drop_kg']:g} kg within {params['window_minutes']} min"
    elif rule.kind == Kind.BROOD_TEMPERATURE:
        limits = f"outside {params['min']:g}–{params['max']:g} °C for {params['for_minutes']} min"
    elif rule.kind == Kind.NO_DATA:
        limits = f"silent {params.get('minutes', 60)} min"
    else:
        limits = ", ".join(f"{key} {value}" for key, value in params.items())
    return f"rule {rule.pk} of {rule.user.email} ({limits})"


def forecast(
    *,
    hive: Hive,
    simulator: HiveSimulator,
    injection: Injection,
    step_s: float,
    last_reading: datetime | None,
) -> list[Forecast]:
    """What each rule of the injection's kind does on ``hive`` when ``simulator`` (which
    holds ``injection``) sends a reading every ``step_s`` seconds; ``last_reading``: the
    hive's last reading before a silence."""
    kind = RAISES[injection.kind]
    results = []
    for rule in rules_in_effect(hive=hive, kind=kind):
        if kind == Kind.NO_DATA:
            results.append(no_data_outlook(rule=rule, hive=hive, last_reading=last_reading))
            continue
        state = AlertState.objects.filter(rule=rule, hive=hive).select_related("active_alert")
        active = _open_alert(state.first())
        if active is not None:
            results.append(Forecast(rule, None, f"its alert {active.pk} is still open"))
            continue
        at = _fire_time(simulator, injection, kind, rule.params, step_s)
        results.append(Forecast(rule, at, "" if at else "the event stays within its limits"))
    return results


def no_data_outlook(*, rule: AlertRule, hive: Hive, last_reading: datetime | None) -> Forecast:
    """When the no_data ``rule`` raises its alert on ``hive`` if nothing comes after
    ``last_reading``: the worker counts from the state's time when the hive has one (it
    moves with the readings evaluated on arrival), else from the newest reading."""
    state = AlertState.objects.filter(rule=rule, hive=hive).select_related("active_alert").first()
    active = _open_alert(state)
    if active is not None:
        return Forecast(rule, None, f"its no_data alert {active.pk} is open already")
    since = state.last_time if state is not None and state.last_time is not None else last_reading
    if since is None:
        return Forecast(rule, None, "no reading stored: a hive that never sent is not watched")
    if state is None and since < timezone.now() - NO_DATA_WATCH_MAX:
        return Forecast(rule, None, "its newest reading is too old to be watched")
    return Forecast(rule, since + timedelta(minutes=rule.params.get("minutes", 60)))


def _open_alert(state: AlertState | None) -> Alert | None:
    active = state.active_alert if state is not None else None
    return active if active is not None and active.resolved_at is None else None


def _fire_time(
    simulator: HiveSimulator, injection: Injection, kind: str, params: dict, step_s: float
) -> datetime | None:
    """The time of the reading at which the rule fires, the rule evaluated from scratch
    over the simulator's readings around the event (a copy: the forecast must not move
    the simulator's own clock)."""
    probe = copy.deepcopy(simulator)
    start, end = injection.start - LEAD_IN, injection.start + HORIZON
    step = max(1, round(step_s))
    items = list(probe.readings(start, end, step))
    if not items:
        return None
    valid, _ = readings_validate(items, device_id=probe.device_id, now=end)
    outcome = evaluate(
        kind=kind, params=params, data={}, readings=valid, active=False, hive_name=""
    )
    fires = [detail.at for action, detail in outcome.actions if action == "fire"]
    return fires[0] if fires else None


def worker_period() -> int:
    return int(settings.ALERTS_WORKER_PERIOD_SECONDS)
