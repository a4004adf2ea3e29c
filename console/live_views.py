"""The live hive page: charts over a chosen range (24 hours of raw readings, or 7 or 30
days of hourly aggregates) that keep moving with the WebSocket stream, the viewer's active
alerts on the hive (kept current by the same stream), and, for a hive without readings,
how to connect its sensor.

The range is ``?range=24h|7d|30d`` (24h when absent). An unknown value falls back to 24
hours with a notice on the page rather than failing: the page is linked and bookmarked,
and a stale or mistyped link should still show the hive.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db import DatabaseError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from alerts.models import Kind
from alerts.selectors import alert_list
from apiary.models import Role
from apiary.selectors import apiary_role, hive_get_visible, role_allows
from core.times import iso_time
from monitoring.api.serializers import RAW_MAX_LIMIT
from telemetry.selectors import device_has_readings
from telemetry.validation import MAX_FUTURE_SKEW, METRIC_TABLE

logger = logging.getLogger("telemetry.live")

# Active alerts are at most one per rule and hive; this only bounds a pathological page.
ALERTS_SHOWN = 50


@dataclass(frozen=True)
class Range:
    key: str
    label: str  # the button
    title: str  # "Last 7 days"
    seconds: int
    source: str  # "raw": GET /hives/{id}/telemetry; "hourly": GET …/telemetry/hourly
    legend: str


_RAW_LEGEND = "Every reading as the sensor sent it; new ones are added as they arrive."
_HOURLY_LEGEND = (
    "Line: hourly average; shaded: the hour's lowest to highest reading; "
    "dots: single readings received live since the range was loaded."
)
RANGES: dict[str, Range] = {
    r.key: r
    for r in (
        Range("24h", "24 h", "Last 24 hours", 24 * 3600, "raw", _RAW_LEGEND),
        Range("7d", "7 d", "Last 7 days", 7 * 24 * 3600, "hourly", _HOURLY_LEGEND),
        Range("30d", "30 d", "Last 30 days", 30 * 24 * 3600, "hourly", _HOURLY_LEGEND),
    )
}
DEFAULT_RANGE = "24h"

# The charts, in page order: metric, heading, unit.
CHARTS = [(metric.name, metric.label, metric.unit) for metric in METRIC_TABLE]


def _range(request: HttpRequest) -> tuple[Range, str | None]:
    """The chosen range and, for a value that names none, a notice for the page."""
    raw = request.GET.get("range", "")
    key = raw.strip().lower()
    if not key:
        return RANGES[DEFAULT_RANGE], None
    if key in RANGES:
        return RANGES[key], None
    choices = ", ".join(RANGES)
    shown = raw if len(raw) <= 20 else raw[:20] + "…"
    notice = f"Unknown range “{shown}”: showing the last 24 hours. Choose one of {choices}."
    return RANGES[DEFAULT_RANGE], notice


def _has_readings(device_id: str) -> bool | None:
    """Whether the device has sent anything; None when the telemetry database does not
    answer (the page still loads; the stream's history settles it in the browser)."""
    try:
        return device_has_readings(device_id=device_id)
    except DatabaseError as exc:
        logger.warning("live page of %s: telemetry database unavailable: %s", device_id, exc)
        return None


@login_required
def hive_live(request: HttpRequest, hive_id: int) -> HttpResponse:
    hive = hive_get_visible(user=request.user, hive_id=hive_id)
    if hive is None:
        raise Http404("No such hive.")
    chosen, notice = _range(request)
    alerts = alert_list(user=request.user).filter(hive=hive, resolved_at=None)[:ALERTS_SHOWN]
    has_readings = _has_readings(hive.device_id)
    # Who may replace the device key (the owner, or a superuser): the page links them to it.
    is_owner = role_allows(apiary_role(user=request.user, apiary=hive.apiary), Role.OWNER)
    now = datetime.now(UTC).replace(microsecond=0)
    config = {
        "hive": hive.pk,
        "range": chosen.key,
        "ranges": {key: asdict(r) for key, r in RANGES.items()},
        "rawUrl": reverse("hive-telemetry", kwargs={"pk": hive.pk}),
        "hourlyUrl": reverse("hive-telemetry-hourly", kwargs={"pk": hive.pk}),
        "rawLimit": RAW_MAX_LIMIT,
    }
    return render(
        request,
        "telemetry/hive_live.html",
        {
            "hive": hive,
            "alerts": list(alerts),
            "alert_kinds": dict(Kind.choices),
            "range": chosen,
            "ranges": list(RANGES.values()),
            "range_notice": notice,
            "charts": CHARTS,
            "live_config": config,
            # None: unknown (telemetry database down); the empty state then waits for
            # the stream's history to tell.
            "has_readings": has_readings,
            "is_owner": is_owner,
            "ingest_url": request.build_absolute_uri(reverse("telemetry-ingest")),
            "device_key_url": f"/hives/{hive.pk}/device-key",
            "example_time": iso_time(now),
            "max_batch": settings.TELEMETRY_MAX_BATCH,
            "max_future_minutes": int(MAX_FUTURE_SKEW.total_seconds() // 60),
        },
    )
