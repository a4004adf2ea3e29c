"""The live hive page: charts over a chosen range (24 hours of raw readings, or 7 or 30
days of hourly aggregates) that keep moving with the WebSocket stream, the viewer's active
alerts on the hive (kept current by the same stream), and, for a hive without readings,
how to connect its sensor.

The badge above the charts says whether the stream is connected and, once it is, whether
the sensor is sending: silent for longer than the viewer's no_data rule on the hive allows
(else STALE_AFTER, the overview's "stale"), it says since when. Open alerts carry an
"Acknowledge" button for whoever the alert admin's action allows
(``hive_live_alert_acknowledge``).

The range is ``?range=24h|7d|30d`` (24h when absent). An unknown value falls back to 24
hours with a notice on the page rather than failing: the page is linked and bookmarked,
and a stale or mistyped link should still show the hive.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import DatabaseError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from alerts.live import alert_payload
from alerts.models import Alert, Kind
from alerts.selectors import alert_list, no_data_minutes
from alerts.services import alert_acknowledge
from apiary.models import Role
from apiary.selectors import apiary_role, hive_get_visible, role_allows
from console.admin_pages import STALE_AFTER
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

# The charts, in page order: metric, heading, unit, digits after the point of its values.
CHARTS = [(metric.name, metric.label, metric.unit, metric.decimals) for metric in METRIC_TABLE]


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


def may_acknowledge(request: HttpRequest) -> bool:
    """Whether the user may acknowledge alerts: the alert admin's own action permission,
    so that the live page and the admin never disagree (the service then allows the
    user's own alerts only)."""
    alert_admin: Any = admin.site.get_model_admin(Alert)  # alerts.admin.AlertAdmin
    return bool(alert_admin.has_acknowledge_permission(request))


def _silent_after_seconds(request: HttpRequest, hive: Any) -> int:
    """After how long without a reading the page calls the sensor silent."""
    minutes = no_data_minutes(user=request.user, hive=hive)
    if minutes is None:
        return int(STALE_AFTER.total_seconds())
    return minutes * 60


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
        "silentAfterSeconds": _silent_after_seconds(request, hive),
        # The viewer's zone (accounts.middleware): the page's times are written in it.
        "timeZone": timezone.get_current_timezone_name(),
    }
    can_acknowledge = may_acknowledge(request)
    if can_acknowledge:
        # The stream's new alerts get their button from this (0: the alert's id).
        config["acknowledgeUrl"] = reverse(
            "hive-live-alert-acknowledge", kwargs={"hive_id": hive.pk, "alert_id": 0}
        )
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
            "can_acknowledge": can_acknowledge,
            "ingest_url": request.build_absolute_uri(reverse("telemetry-ingest")),
            "device_key_url": f"/hives/{hive.pk}/device-key",
            "example_time": iso_time(now),
            "max_batch": settings.TELEMETRY_MAX_BATCH,
            "max_future_minutes": int(MAX_FUTURE_SKEW.total_seconds() // 60),
            "time_zone": config["timeZone"],
        },
    )


def _refused(request: HttpRequest, status: int, detail: str) -> HttpResponse:
    if _wants_json(request):
        return JsonResponse({"detail": detail}, status=status)
    if status == 404:
        raise Http404(detail)
    return HttpResponse(detail, status=status, content_type="text/plain; charset=utf-8")


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


@require_POST
@login_required
def hive_live_alert_acknowledge(request: HttpRequest, hive_id: int, alert_id: int) -> HttpResponse:
    """The live page's "Acknowledge" button: the same service and permission as the
    alert admin's action. JSON (the alert, as the stream shows it) for the page's script;
    a form posted without it goes back to the page.

    404: no such hive for the user. 403: the user may not acknowledge alerts, or the id
    is not one of their alerts on the hive; a member's POST for the owner's alert is
    answered as for an id that does not exist (the alerts of each user are their own)."""
    hive = hive_get_visible(user=request.user, hive_id=hive_id)
    if hive is None:
        return _refused(request, 404, "No such hive.")
    alert = alert_list(user=request.user).filter(hive=hive, pk=alert_id).first()
    if alert is None or not may_acknowledge(request):
        return _refused(request, 403, "You may not acknowledge this alert.")
    try:
        alert = alert_acknowledge(alert=alert, actor=request.user)
    except ValidationError as exc:
        errors = exc.message_dict if hasattr(exc, "error_dict") else {"alert": exc.messages}
        if _wants_json(request):
            return JsonResponse(errors, status=400)
        text = "; ".join(f"{name}: {' '.join(messages)}" for name, messages in errors.items())
        return HttpResponse(text, status=400, content_type="text/plain; charset=utf-8")
    if _wants_json(request):
        return JsonResponse(alert_payload(alert))
    back = HttpResponseRedirect(reverse("hive-live", kwargs={"hive_id": hive.pk}))
    back.status_code = 303  # see the page again, with GET
    return back
