"""The live hive page: charts of the last 24 hours that move with the WebSocket stream,
and the viewer's active alerts on the hive (kept current by the same stream)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from alerts.models import Kind
from alerts.selectors import alert_list
from apiary.selectors import hive_get_owned

# Active alerts are at most one per rule and hive; this only bounds a pathological page.
ALERTS_SHOWN = 50


@login_required
def hive_live(request: HttpRequest, hive_id: int) -> HttpResponse:
    hive = hive_get_owned(user=request.user, hive_id=hive_id)
    if hive is None:
        raise Http404("No such hive.")
    alerts = alert_list(user=request.user).filter(hive=hive, resolved_at=None)[:ALERTS_SHOWN]
    return render(
        request,
        "telemetry/hive_live.html",
        {"hive": hive, "alerts": list(alerts), "alert_kinds": dict(Kind.choices)},
    )
