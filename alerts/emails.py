"""An alert as an email to its user: in words, in the recipient's time zone, with a link.

The alert's ``values`` (alerts.evaluation, alerts.services.no_data_check) are figures for
programs; the email writes them as a beekeeper reads them: "Weight dropped 2.51 kg in 10
min", each number with its metric's decimals and unit, each time as
``2026-12-07 13:35 CET`` in the user's zone (accounts.selectors.user_zone).
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

from django.conf import settings
from django.urls import reverse

from accounts.selectors import user_zone
from alerts.evaluation import figure
from alerts.models import Alert, Kind
from core.times import local_text
from telemetry.validation import METRIC_BY_NAME

# Limits a rule's values repeat (alerts.evaluation), as words before the figure.
_LIMIT_WORDS = {
    "min": "lowest allowed",
    "max": "highest allowed",
    "below": "alert below",
    "above": "alert above",
    "rssi_below": "alert below",
    "snr_below": "alert below",
}
_NOT_FIGURES = {"since", "minutes"}


def _when(value: Any, zone: tzinfo) -> str:
    """An ISO time of the values in the zone; anything else as it is."""
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    return local_text(moment, zone, with_zone=True) if moment.tzinfo else str(value)


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _limit_metric(key: str, metric: str) -> str:
    return key.removesuffix("_below") if key.endswith("_below") else metric


def value_lines(alert: Alert, zone: tzinfo) -> list[str]:
    """The alert's values in words, one line each (times in ``zone``)."""
    values = dict(alert.values or {})
    since = f" since {_when(values['since'], zone)}" if "since" in values else ""
    if alert.kind == Kind.SWARM and "lost_kg" in values:
        lines = [
            f"Weight dropped {figure('weight', values['lost_kg'])} in "
            f"{values.get('minutes', '?')} min{since}",
        ]
        if "weight_before_kg" in values and "weight_after_kg" in values:
            lines.append(
                f"Weight before: {figure('weight', values['weight_before_kg'])}, after: "
                f"{figure('weight', values['weight_after_kg'])}"
            )
        return lines
    if alert.kind == Kind.NO_DATA and "last_reading_at" in values:
        return [
            f"Last reading: {_when(values['last_reading_at'], zone)} "
            f"({values.get('silent_minutes', '?')} min before the alert)",
            f"The rule allows {values.get('minutes', '?')} min without data",
        ]
    lines, limits = [], []
    metric = next((key for key in values if key in METRIC_BY_NAME), None)
    if metric is not None:
        lines.append(
            f"{METRIC_BY_NAME[metric].label}: {figure(metric, values[metric])} for "
            f"{values.get('minutes', '?')} min{since}"
        )
    for key, value in values.items():
        if key == metric or key in _NOT_FIGURES:
            continue
        if key in _LIMIT_WORDS and isinstance(value, int | float):
            limit_metric = _limit_metric(key, metric or "")
            text = figure(limit_metric, value) if limit_metric in METRIC_BY_NAME else value
            limits.append(f"{_LIMIT_WORDS[key]} {text}")
        else:  # a value this module does not know yet: labelled, never raw JSON
            lines.append(f"{key.replace('_', ' ').capitalize()}: {_number(value)}")
    if limits:
        lines.append("The rule: " + ", ".join(limits))
    return lines


def alert_url(alert: Alert) -> str:
    """The alert's page in the console, absolute where PUBLIC_BASE_URL says where the
    console is (the worker sends mail outside any request)."""
    return settings.PUBLIC_BASE_URL + reverse("admin:alerts_alert_change", args=[alert.pk])


def alert_email(alert: Alert) -> tuple[str, str]:
    """The subject and text of the email telling ``alert.user`` about ``alert``."""
    zone = user_zone(alert.user)
    hive = alert.hive
    lines = [
        alert.message,
        "",
        f"Hive: {hive.name} (sensor {hive.device_id})",
        f"Alert: {alert.get_kind_display()}",
        f"Started: {local_text(alert.started_at, zone, with_zone=True)}",
        *value_lines(alert, zone),
        "",
        f"See and acknowledge it: {alert_url(alert)}",
    ]
    return f"[BeeAPI] {alert.message}"[:200], "\n".join(lines) + "\n"
