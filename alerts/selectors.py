"""Reads of alerts, rules, webhooks and inspections: each user sees only their own.

An alert or rule on a hive the user no longer has a role in (removed from the apiary,
hive handed over) is hidden with it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet

from alerts.models import (
    Alert,
    AlertRule,
    AlertSettings,
    Delivery,
    Inspection,
    Kind,
    Webhook,
)
from apiary.models import Event, Hive
from apiary.selectors import (
    APIARY_TABLE,
    HIVE_TABLE,
    WEIGHT_EVENT_TYPES,
    owner_sql,
    role_holder_q,
    role_q,
    role_sql,
)
from telemetry.selectors import Explanations

# Alerts and rules follow the role a user holds in the hive's apiary (apiary.selectors'
# role rule), with no exception for superusers: a rule works for its own user only where
# that user is the owner or a member.


def alert_list(*, user: Any) -> QuerySet[Alert]:
    return (
        Alert.objects.filter(user=user)
        .filter(role_q(user, "hive__apiary__"))
        .select_related("hive", "rule")
    )


def alert_get(*, user: Any, alert_id: int) -> Alert | None:
    return alert_list(user=user).filter(pk=alert_id).first()


def rule_list(*, user: Any) -> QuerySet[AlertRule]:
    scoped_hive = Q(hive__isnull=True) | role_q(user, "hive__apiary__")
    scoped_apiary = Q(apiary__isnull=True) | role_q(user, "apiary__")
    return AlertRule.objects.filter(user=user).filter(scoped_hive, scoped_apiary)


def rules_for_hive(*, hive: Hive) -> QuerySet[AlertRule]:
    """Enabled rules of every user that apply to ``hive``: on the hive, on its apiary
    (the rule's user still has a role there) or account-wide (the user owns the apiary)."""
    apiary = hive.apiary
    in_scope = Q(hive=hive) | Q(apiary_id=hive.apiary_id)
    return AlertRule.objects.filter(enabled=True).filter(
        (in_scope & role_holder_q(apiary))
        | Q(hive__isnull=True, apiary__isnull=True, user_id=apiary.owner_id)
    )


def no_data_minutes(*, user: Any, hive: Hive) -> int | None:
    """The shortest silence (minutes) that the user's enabled no_data rules on ``hive``
    allow, or None without such a rule: after it, the hive's sensor counts as silent."""
    rules = rules_for_hive(hive=hive).filter(user=user, kind=Kind.NO_DATA)
    minutes = [int(rule.params.get("minutes", 60)) for rule in rules]
    return min(minutes, default=None)


# rules_for_hive in one statement with everything the evaluation of stored readings needs,
# for many devices at once (an MQTT batch): each hive (locked against concurrent
# evaluation of the same hive), each applicable rule with its state and whether that
# state's alert is still active, and the windows near the device's readings in which
# weight changes are explained: inspections, and the events that put weight on the scale
# or take it off (WEIGHT_EVENT_TYPES, ``event_margin`` either side of their time).
# One round trip per batch instead of five ORM queries per device.
# rules_for_hive as SQL, for rule r, hive h and its apiary a: one scope for both statements.
_RULE_APPLIES_SQL = f"""(
        (r.hive_id IS NULL AND r.apiary_id IS NULL AND {owner_sql(user="r.user_id", apiary="a")})
     OR ((r.hive_id = h.id OR r.apiary_id = h.apiary_id)
         AND {role_sql(user="r.user_id", apiary="a")}))"""

EVENT_TABLE = Event._meta.db_table

_CONTEXT_SQL = f"""
SELECT h.id, h.name, r.id, r.user_id, r.kind, r.params,
       s.id, s.last_time, s.data, s.active_alert_id,
       (s.active_alert_id IS NOT NULL AND al.resolved_at IS NULL),
       (SELECT json_agg(json_build_array(w.started_at, w.ends_at))
          FROM (SELECT i.started_at, i.ends_at
                  FROM inspections i
                 WHERE i.hive_id = h.id AND i.started_at <= b.last AND i.ends_at >= b.first
                 UNION ALL
                SELECT e.occurred_at - %(event_margin)s, e.occurred_at + %(event_margin)s
                  FROM {EVENT_TABLE} e
                 WHERE e.hive_id = h.id AND e.type = ANY(%(event_types)s::varchar[])
                   AND e.occurred_at BETWEEN b.first - %(event_margin)s
                                         AND b.last + %(event_margin)s) w),
       h.device_id
  FROM unnest(%(device_ids)s::varchar[], %(firsts)s::timestamptz[], %(lasts)s::timestamptz[])
       AS b(device_id, first, last)
  JOIN {HIVE_TABLE} h ON h.device_id = b.device_id
  JOIN {APIARY_TABLE} a ON a.id = h.apiary_id
  JOIN alert_rules r ON r.enabled AND {_RULE_APPLIES_SQL}
  LEFT JOIN alert_states s ON s.rule_id = r.id AND s.hive_id = h.id
  LEFT JOIN alerts al ON al.id = s.active_alert_id
 ORDER BY h.id, r.id
   FOR NO KEY UPDATE OF h
"""


def evaluation_context_many(*, windows: dict[str, tuple[Any, Any]]) -> list[tuple[Any, ...]]:
    """Rows of (hive id, hive name, rule id, user id, kind, params, state id, last_time,
    data, active alert id, active?, suppression windows as JSON, device id) for the
    devices of ``windows`` (device_id: (first, last), the span whose windows matter), in
    hive order, in the caller's transaction: the hive rows are locked (in id
    order, so batches of overlapping devices wait for each other instead of deadlocking).
    The rules are exactly rules_for_hive's (tests/alerts check both)."""
    from django.db import connection

    device_ids = list(windows)
    params: dict[str, Any] = {
        "device_ids": device_ids,
        "firsts": [windows[d][0] for d in device_ids],
        "lasts": [windows[d][1] for d in device_ids],
        "event_margin": timedelta(minutes=settings.WEIGHT_EVENT_MARGIN_MINUTES),
        "event_types": [str(event_type) for event_type in WEIGHT_EVENT_TYPES],
    }
    with connection.cursor() as cursor:
        cursor.execute(_CONTEXT_SQL, params)
        return cursor.fetchall()


def evaluation_context(*, device_id: str, first: Any, last: Any) -> list[tuple[Any, ...]]:
    """evaluation_context_many for one device."""
    return evaluation_context_many(windows={device_id: (first, last)})


# Enabled no_data rules and the hives they apply to (rules_for_hive's scope, from the
# rule's side) that have no evaluation state yet: hives whose readings all predate the
# rule, or that have been silent since before alerts existed.
_UNWATCHED_SQL = f"""
SELECT r.id, h.id, h.device_id
  FROM alert_rules r
  JOIN {HIVE_TABLE} h ON (r.hive_id = h.id OR r.apiary_id = h.apiary_id
                   OR (r.hive_id IS NULL AND r.apiary_id IS NULL))
  JOIN {APIARY_TABLE} a ON a.id = h.apiary_id
 WHERE r.enabled AND r.kind = 'no_data' AND {_RULE_APPLIES_SQL}
   AND NOT EXISTS (SELECT 1 FROM alert_states s WHERE s.rule_id = r.id AND s.hive_id = h.id)
"""


def no_data_unwatched() -> list[tuple[int, int, str]]:
    """(rule id, hive id, device id) of no_data rules' hives without a state."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(_UNWATCHED_SQL)
        return cursor.fetchall()


def rule_applies(*, rule: AlertRule, hive: Hive) -> bool:
    return rules_for_hive(hive=hive).filter(pk=rule.pk).exists()


def webhook_list(*, user: Any) -> QuerySet[Webhook]:
    return Webhook.objects.filter(user=user)


def delivery_list(*, webhook: Webhook) -> QuerySet[Delivery]:
    return Delivery.objects.filter(webhook=webhook).select_related("alert")


def inspection_open(*, hive: Hive, now: Any) -> Inspection | None:
    return Inspection.objects.filter(hive=hive, started_at__lte=now, ends_at__gt=now).first()


def email_enabled(*, user: Any) -> bool:
    setting = AlertSettings.objects.filter(user=user).values_list("email", flat=True).first()
    return True if setting is None else setting


def weight_alert_windows(*, device_id: str, start: datetime, end: datetime) -> Explanations:
    """telemetry.selectors.Explanations of the hive with ``device_id`` between ``start``
    and ``end``: its inspection windows (with the settle margin after) as explained, the
    spans its swarm alerts looked at (their rule's window before the alert) as kept."""
    settle = timedelta(minutes=settings.INSPECTION_SETTLE_MINUTES)
    inspections = Inspection.objects.filter(
        hive__device_id=device_id, started_at__lte=end, ends_at__gte=start - settle
    ).values_list("started_at", "ends_at")
    swarms = Alert.objects.filter(
        hive__device_id=device_id,
        kind=Kind.SWARM,
        started_at__gte=start,
        started_at__lte=end + timedelta(hours=4),
    ).values_list("started_at", "rule__params")
    kept = []
    for started_at, params in swarms:
        minutes = (params or {}).get("window_minutes", 30)
        kept.append((started_at - timedelta(minutes=minutes), started_at))
    return Explanations([(lo, hi + settle) for lo, hi in inspections], kept)
