"""Writes of the alerts domain, shared by the API, the admin, the ingest hook, the worker
and the simulator.

Evaluation on ingest (``readings_evaluate``) runs once per stored batch, after the
telemetry commit: a handful of queries per batch whatever its size (the hive, its rules,
their states under a row lock, the inspection windows, one upsert), never per reading.
Alerts go out live after the ``default`` commit; webhooks and email are queued as
deliveries that the worker sends (alerts.delivery), never the ingesting request.
"""

from __future__ import annotations

import bisect
import json
import logging
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from itertools import groupby
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from alerts import live, rules, selectors
from alerts.evaluation import Fire, evaluate
from alerts.models import (
    Alert,
    AlertRule,
    AlertSettings,
    AlertState,
    Delivery,
    Inspection,
    Kind,
    Status,
    Webhook,
)
from alerts.webhooks import url_check
from apiary.access import hive_require_role
from apiary.models import Apiary, Event, Hive, Role
from apiary.selectors import apiary_is_owned_by, apiary_role, hive_get_visible
from core.times import iso_time
from telemetry.selectors import devices_last_reading
from telemetry.validation import ValidReading

logger = logging.getLogger("alerts")

NOT_FOUND = "Not found."


# --- Rules ------------------------------------------------------------------------------


def default_rules_create(*, user: Any) -> list[AlertRule]:
    """The account-wide swarm, brood temperature and no-data rules every beekeeper starts
    with (idempotent: kinds the user already has account-wide are left alone)."""
    have = set(
        AlertRule.objects.filter(user=user, hive=None, apiary=None).values_list("kind", flat=True)
    )
    return AlertRule.objects.bulk_create(
        AlertRule(user=user, kind=kind, params=rules.params_default(kind))
        for kind in rules.DEFAULT_KINDS
        if kind not in have
    )


def _scope_check(actor: Any, hive: Hive | None, apiary: Apiary | None) -> None:
    if hive is not None and apiary is not None:
        raise ValidationError({"apiary": "Give a hive or an apiary, not both."})
    if hive is not None and hive_get_visible(user=actor, hive_id=hive.pk) is None:
        raise ValidationError({"hive": NOT_FOUND})
    if apiary is not None and apiary_role(user=actor, apiary=apiary) is None:
        raise ValidationError({"apiary": NOT_FOUND})


def _rules_limit_check(actor: Any) -> None:
    """Refuse a rule beyond ALERT_RULES_MAX_PER_USER.

    The actor's user row is locked first (FOR NO KEY UPDATE: rows that merely reference
    the user are not held up), so two creates at once count one after the other and
    cannot both take the last place. The count is of the rules the user sees and can
    delete (selectors.rule_list): rules left on hives they lost their role in are inert
    and must not fill the user's quota with rules they cannot remove.
    """
    limit = settings.ALERT_RULES_MAX_PER_USER
    users = get_user_model().objects.select_for_update(no_key=True)
    users.filter(pk=actor.pk).values_list("pk", flat=True).first()
    have = selectors.rule_list(user=actor).count()
    if have >= limit:
        raise ValidationError(
            f"You have {have} alert rules, the most allowed is {limit}: delete or change "
            "one of them instead.",
            code="too_many_rules",
        )


@transaction.atomic
def rule_create(
    *,
    actor: Any,
    kind: str,
    params: dict[str, Any] | None = None,
    hive: Hive | None = None,
    apiary: Apiary | None = None,
    enabled: bool = True,
) -> AlertRule:
    """A rule of the actor's. Any role in the hive or apiary will do: rules are the
    actor's own notifications, not a change to the shared hive (their alerts reach the
    hive's history only when the actor owns it, see ``_raise``). At most
    ALERT_RULES_MAX_PER_USER rules per user."""
    if kind not in Kind.values:
        raise ValidationError({"kind": f"Choose one of: {', '.join(Kind.values)}."})
    _scope_check(actor, hive, apiary)
    params = rules.params_validate(kind, params)
    _rules_limit_check(actor)
    return AlertRule.objects.create(
        user=actor,
        kind=kind,
        hive=hive,
        apiary=apiary,
        params=params,
        enabled=enabled,
    )


RULE_FIELDS = {"params", "enabled"}


@transaction.atomic
def rule_update(*, rule: AlertRule, actor: Any, **fields: Any) -> AlertRule:
    """Change a rule's thresholds (``params``, merged over the current ones) or switch it
    on and off. Kind and scope are fixed: create another rule instead."""
    unknown = set(fields) - RULE_FIELDS
    if unknown:
        raise ValidationError(
            {key: "This field cannot be changed; create another rule." for key in sorted(unknown)}
        )
    if rule.user_id != actor.pk:
        raise ValidationError({"rule": NOT_FOUND})
    if "params" in fields:
        if not isinstance(fields["params"], dict):
            raise ValidationError({"params": "Must be a JSON object."})
        rule.params = rules.params_validate(rule.kind, {**rule.params, **fields["params"]})
    if "enabled" in fields:
        rule.enabled = fields["enabled"]
        if not rule.enabled:
            _resolve_all(rule, timezone.now())
    rule.save()
    return rule


@transaction.atomic
def rule_delete(*, rule: AlertRule, actor: Any) -> None:
    """Delete a rule; its alerts stay in the history, the active ones resolved."""
    if rule.user_id != actor.pk:
        raise ValidationError({"rule": NOT_FOUND})
    _resolve_all(rule, timezone.now())
    rule.delete()


def _resolve_all(rule: AlertRule, at: datetime) -> None:
    resolved = list(rule.alerts.filter(resolved_at=None))
    Alert.objects.filter(pk__in=[a.pk for a in resolved]).update(
        resolved_at=at, status=Status.RESOLVED
    )
    AlertState.objects.filter(rule=rule).delete()  # a re-enabled rule starts afresh
    for alert in resolved:
        alert.resolved_at, alert.status = at, Status.RESOLVED
        _publish_on_commit(alert)


# The rule kinds whose evaluation state remembers values of a metric (the swarm rule its
# heaviest recent weights); other kinds' states hold times only.
_REMEMBERS = {"weight": (Kind.SWARM,)}


def states_forget(*, device_id: str, metric: str) -> int:
    """Let the rules of the hive with ``device_id`` that remember ``metric`` values start
    afresh from its next readings (a calibration changed what the values mean): their
    states' data are cleared, their open alerts stay. Returns how many states."""
    kinds = _REMEMBERS.get(metric)
    if not kinds:
        return 0
    return AlertState.objects.filter(
        hive__device_id=device_id, rule__kind__in=[str(k) for k in kinds]
    ).update(data={})


def _publish_on_commit(alert: Alert) -> None:
    # A function of its own, so each callback holds its own alert, not the loop's last.
    transaction.on_commit(lambda: live.alert_publish(alert))


# --- Alerts -----------------------------------------------------------------------------


@transaction.atomic
def alert_acknowledge(*, alert: Alert, actor: Any) -> Alert:
    """The beekeeper has seen it. A swarm alert ends here; the others stay active until
    their condition clears (then they resolve)."""
    if alert.user_id != actor.pk:
        raise ValidationError({"alert": NOT_FOUND})
    alert = Alert.objects.select_for_update().get(pk=alert.pk)
    if alert.status != Status.OPEN:
        return alert
    now = timezone.now()
    alert.status = Status.ACKNOWLEDGED
    alert.acknowledged_at = now
    if alert.kind == Kind.SWARM:
        alert.resolved_at = now
    alert.save(update_fields=["status", "acknowledged_at", "resolved_at"])
    transaction.on_commit(lambda: live.alert_publish(alert))
    return alert


def _writes_history(rule: AlertRule, hive: Hive) -> bool:
    """Whether the rule's alerts on ``hive`` become events in its shared history.

    Only the apiary owner's rules are the hive's record. A viewer's or an editor's rules
    are their private notifications: their thresholds and alerts stay with them (GET
    /alerts, /ws/alerts, their email and webhooks), and no member writes into the
    history every other member reads through a rule of their own.
    """
    return apiary_is_owned_by(apiary=hive.apiary, user_id=rule.user_id)


def _raise(rule: AlertRule, hive: Hive, fire: Fire) -> Alert | None:
    """Record the alert, its history event (owner's rules only) and its deliveries (in
    the caller's transaction); None when another process raised it first."""
    try:
        with transaction.atomic():
            alert = Alert.objects.create(
                user_id=rule.user_id,
                rule=rule,
                hive=hive,
                kind=rule.kind,
                started_at=fire.at,
                message=fire.message[:300],
                values=fire.values,
            )
    except IntegrityError:
        return None
    if _writes_history(rule, hive):
        alert.event = Event.objects.create(
            hive=hive,
            type=Event.Type.ALERT,
            occurred_at=fire.at,
            notes=alert.message,
            details={"alert": alert.pk, "kind": alert.kind, **fire.values},
        )
        alert.save(update_fields=["event"])
    now = timezone.now()
    deliveries = [
        Delivery(
            alert=alert, channel=Delivery.Channel.WEBHOOK, webhook=webhook, next_attempt_at=now
        )
        for webhook in Webhook.objects.filter(user_id=rule.user_id)
    ]
    if rule.user.email and selectors.email_enabled(user=rule.user):
        deliveries.append(
            Delivery(alert=alert, channel=Delivery.Channel.EMAIL, next_attempt_at=now)
        )
    Delivery.objects.bulk_create(deliveries)
    transaction.on_commit(lambda: live.alert_publish(alert))
    logger.info("alert %s raised: %s", alert.pk, alert.message)
    return alert


def _resolve(alert: Alert, at: datetime) -> None:
    # A reading older than the alert (a no_data alert ended by a late or backfilled
    # reading of before it was raised) ends it when it is resolved, not before it began.
    at = max(at, alert.started_at)
    updated = Alert.objects.filter(pk=alert.pk, resolved_at=None).update(
        resolved_at=at, status=Status.RESOLVED
    )
    if updated:
        alert.resolved_at, alert.status = at, Status.RESOLVED
        transaction.on_commit(lambda: live.alert_publish(alert))


# --- Evaluation on ingest ---------------------------------------------------------------


def late_cutoff(now: datetime) -> datetime:
    return now - timedelta(minutes=settings.ALERTS_LATE_MINUTES)


def readings_evaluate(
    *, device_id: str, readings: Sequence[ValidReading], now: datetime | None = None
) -> list[Alert]:
    """readings_evaluate_many for one device's stored batch."""
    return readings_evaluate_many(batches=[(device_id, readings)], now=now)


def readings_evaluate_many(
    *, batches: Sequence[tuple[str, Sequence[ValidReading]]], now: datetime | None = None
) -> list[Alert]:
    """Evaluate the enabled rules of each device's hive over its stored readings (one
    ``(device_id, readings sorted by time)`` per device); returns the alerts raised.
    Readings more than ALERTS_LATE_MINUTES old are history: they open no alert and
    resolve none.

    Three round trips whatever the number of devices and readings: the context (hives,
    rules, states, inspection and weight event windows; the hive rows locked so two evaluations of one
    hive run one after the other), one upsert of the states, the commit.
    """
    if not settings.ALERTS_ENABLED:
        return []
    now = now or timezone.now()
    cutoff = late_cutoff(now)
    settle = timedelta(minutes=settings.INSPECTION_SETTLE_MINUTES)
    work: dict[str, tuple[Sequence[ValidReading], list[datetime], int]] = {}
    for device_id, readings in batches:
        if not readings or readings[-1].time < cutoff:
            continue
        times = [reading.time for reading in readings]
        work[device_id] = (readings, times, bisect.bisect_left(times, cutoff))
    if not work:
        return []
    raised: list[Alert] = []
    with transaction.atomic():
        rows = selectors.evaluation_context_many(
            windows={
                device_id: (times[recent_from] - settle, times[-1])
                for device_id, (_, times, recent_from) in work.items()
            }
        )
        states: list[tuple[int, int, datetime, str, int | None]] = []
        for device_id, hive_rows in groupby(rows, key=lambda row: row[12]):
            states += _hive_evaluate(list(hive_rows), *work[device_id], settle, raised)
        if states:
            hive_ids, rule_ids, last_times, datas, actives = (
                list(column) for column in zip(*states, strict=True)
            )
            with connection.cursor() as cursor:
                cursor.execute(_UPSERT_STATES_SQL, [hive_ids, rule_ids, last_times, datas, actives])
    return raised


def _hive_evaluate(
    rows: list[tuple[Any, ...]],
    readings: Sequence[ValidReading],
    times: list[datetime],
    recent_from: int,
    settle: timedelta,
    raised: list[Alert],
) -> list[tuple[int, int, datetime, str, int | None]]:
    """Each rule of one hive (its context rows) over its readings: the alerts raised are
    added to ``raised``; returns the rules' new states (hive, rule, last time, data,
    active alert)."""
    hive_id, hive_name = rows[0][0], rows[0][1]
    suppressed = _suppressed(rows[0][11], settle)
    states = []
    for row in rows:
        _, _, rule_id, user_id, kind, params, _, last, data, active_id, active, _, _ = row
        begin = recent_from if last is None else max(recent_from, bisect.bisect_right(times, last))
        if begin >= len(readings):
            continue
        batch = readings[begin:]
        active_id = active_id if active else None
        data = _json(data) or {}
        if kind == Kind.NO_DATA:
            if active_id is not None:
                _resolve_id(active_id, batch[0].time)
                active_id = None
        else:
            outcome = evaluate(
                kind=kind,
                params=_json(params),
                data=data,
                readings=batch,
                active=active_id is not None,
                hive_name=hive_name,
                suppressed=suppressed,
            )
            data = outcome.data
            for action, detail in outcome.actions:
                if action == "fire":
                    alert = _raise(_rule(rule_id), _hive(hive_id), detail)
                    if alert is not None:
                        raised.append(alert)
                        active_id = alert.pk
                elif active_id is not None:
                    _resolve_id(active_id, detail)
                    active_id = None
        states.append((hive_id, rule_id, batch[-1].time, json.dumps(data), active_id))
    return states


_UPSERT_STATES_SQL = """
INSERT INTO alert_states (hive_id, rule_id, last_time, data, active_alert_id)
SELECT s.* FROM unnest(%s::bigint[], %s::bigint[], %s::timestamptz[], %s::jsonb[], %s::bigint[])
    AS s(hive_id, rule_id, last_time, data, active_alert_id)
ON CONFLICT (rule_id, hive_id) DO UPDATE SET
    last_time = EXCLUDED.last_time,
    data = EXCLUDED.data,
    active_alert_id = EXCLUDED.active_alert_id
"""


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _rule(rule_id: int) -> AlertRule:
    return AlertRule.objects.select_related("user").get(pk=rule_id)


def _hive(hive_id: int) -> Hive:
    return Hive.objects.select_related("apiary").get(pk=hive_id)


def _resolve_id(alert_id: int, at: datetime) -> None:
    alert = Alert.objects.select_related("hive").filter(pk=alert_id).first()
    if alert is not None:
        _resolve(alert, at)


def _suppressed(windows: Any, settle: timedelta) -> Any:
    """The test for a reading's time: in an inspection window or a weight event's (the
    context query's windows), or the settle margin after one; None when no window is
    near."""
    windows = _json(windows)
    if not windows:
        return None
    spans = [
        (datetime.fromisoformat(start), datetime.fromisoformat(end) + settle)
        for start, end in windows
    ]
    return lambda time: any(start <= time <= end for start, end in spans)


# --- The worker's clock -----------------------------------------------------------------

# The longest silence a no_data rule can ask for (alerts.rules.NoDataParams): a hive whose
# newest reading is older was never watched and is not started on.
NO_DATA_WATCH_MAX = timedelta(minutes=rules.NO_DATA_MAX_MINUTES)


def no_data_check(*, now: datetime | None = None) -> list[Alert]:
    """Raise ``no_data`` alerts for hives silent longer than their rule allows.

    Safe with several workers at once: each state is taken with SKIP LOCKED and the
    partial unique index refuses a second active alert.
    """
    if not settings.ALERTS_ENABLED:
        return []
    now = now or timezone.now()
    _no_data_watch(now)
    candidates = (
        AlertState.objects.filter(rule__kind=Kind.NO_DATA, rule__enabled=True)
        .filter(Q(active_alert=None) | Q(active_alert__resolved_at__isnull=False))
        .exclude(last_time=None)
        .select_related("rule")
        .only("pk", "last_time", "rule__params")
    )
    due = [
        state.pk
        for state in candidates
        if state.last_time is not None  # excluded by the query; mypy cannot know
        and state.last_time < now - timedelta(minutes=state.rule.params.get("minutes", 60))
    ]
    raised = []
    for pk in due:
        with transaction.atomic():
            state = (
                AlertState.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("rule__user", "hive__apiary", "active_alert")
                .filter(pk=pk)
                .first()
            )
            if state is None or (state.active_alert and state.active_alert.resolved_at is None):
                continue
            rule, hive = state.rule, state.hive
            if not selectors.rule_applies(rule=rule, hive=hive):
                continue
            # A state has its time from its first reading on (a candidate had one), and
            # it is only ever moved forward, never cleared.
            last_time = state.last_time
            assert last_time is not None
            silent = now - last_time
            minutes = int(silent.total_seconds() // 60)
            fire = Fire(
                at=now,
                message=f"{hive.name}: no data from sensor {hive.device_id} for {minutes} min",
                values={
                    "last_reading_at": iso_time(last_time),
                    "silent_minutes": minutes,
                    "minutes": rule.params.get("minutes", 60),
                },
            )
            alert = _raise(rule, hive, fire)
            if alert is not None:
                state.active_alert = alert
                state.save(update_fields=["active_alert"])
                raised.append(alert)
    return raised


def _no_data_watch(now: datetime) -> None:
    """Give the hives of no_data rules that have no state yet one, from their newest
    stored reading: a sensor silent since before its rule existed (or before this
    version) is watched too. Hives that never sent anything stay unwatched, and so do
    hives whose newest reading is older than NO_DATA_WATCH_MAX (history: an import, a
    reading dated months back), which would otherwise be reported "silent for 272256
    min" the moment they were stored."""
    unwatched = selectors.no_data_unwatched()
    if not unwatched:
        return
    last = devices_last_reading(device_ids=sorted({device for _, _, device in unwatched}))
    oldest = now - NO_DATA_WATCH_MAX
    AlertState.objects.bulk_create(
        [
            AlertState(rule_id=rule_id, hive_id=hive_id, last_time=last[device], data={})
            for rule_id, hive_id, device in unwatched
            if device in last and last[device] >= oldest
        ],
        ignore_conflicts=True,
    )


# --- Inspections ------------------------------------------------------------------------


@transaction.atomic
def inspection_start(
    *, hive: Hive, actor: Any, minutes: int = 60, now: datetime | None = None
) -> Inspection:
    """Open the hive for ``minutes`` (at most INSPECTION_MAX_MINUTES): weight alerts are
    paused until it ends plus the settle margin. Starting again while one is open
    extends it.

    The window is only a window: it records no event. The visit itself is the
    inspection event the beekeeper records with findings (or not at all), so one visit
    stays one record and "last inspected" moves only with a recorded inspection."""
    hive_require_role(actor=actor, hive=hive, needed=Role.EDITOR)
    limit = settings.INSPECTION_MAX_MINUTES
    if type(minutes) is not int or not 1 <= minutes <= limit:
        raise ValidationError({"minutes": f"A whole number of minutes from 1 to {limit}."})
    now = now or timezone.now()
    ends = now + timedelta(minutes=minutes)
    Hive.objects.select_for_update().filter(pk=hive.pk).first()  # one window at a time
    current = selectors.inspection_open(hive=hive, now=now)
    if current is not None:
        current.ends_at = ends
        current.save(update_fields=["ends_at"])
        return current
    return Inspection.objects.create(hive=hive, started_at=now, ends_at=ends, started_by=actor)


@transaction.atomic
def inspection_stop(*, hive: Hive, actor: Any, now: datetime | None = None) -> Inspection:
    """Close the open window now (the settle margin still follows)."""
    hive_require_role(actor=actor, hive=hive, needed=Role.EDITOR)
    now = now or timezone.now()
    current = selectors.inspection_open(hive=hive, now=now)
    if current is None:
        raise ValidationError({"inspection": "No inspection is open on this hive."})
    current.ends_at = now
    current.save(update_fields=["ends_at"])
    return current


# --- Delivery targets -------------------------------------------------------------------


@transaction.atomic
def webhook_create(*, actor: Any, url: str, description: str = "") -> Webhook:
    """A webhook for every alert of the actor's. Internal targets are refused (see
    alerts.webhooks.url_check); the secret signs each body and is shown once."""
    url_check(url, resolve=True)
    return Webhook.objects.create(
        user=actor, url=url, description=description, secret=secrets.token_hex(32)
    )


@transaction.atomic
def webhook_delete(*, webhook: Webhook, actor: Any) -> None:
    if webhook.user_id != actor.pk:
        raise ValidationError({"webhook": NOT_FOUND})
    webhook.delete()


@transaction.atomic
def settings_update(*, actor: Any, email: bool) -> AlertSettings:
    setting, _ = AlertSettings.objects.update_or_create(user=actor, defaults={"email": email})
    return setting


def settings_get(*, actor: Any) -> AlertSettings:
    return AlertSettings.objects.filter(user=actor).first() or AlertSettings(user=actor)
