"""The live hive page: charts of the last 24 hours that move with the WebSocket stream."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from apiary.selectors import hive_get_owned


@login_required
def hive_live(request: HttpRequest, hive_id: int) -> HttpResponse:
    hive = hive_get_owned(user=request.user, hive_id=hive_id)
    if hive is None:
        raise Http404("No such hive.")
    return render(request, "telemetry/hive_live.html", {"hive": hive})
