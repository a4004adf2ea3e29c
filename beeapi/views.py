from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from beeapi.health import health_report


@require_GET
def health(request: HttpRequest) -> JsonResponse:
    """Per-database reachability; 200 when both answer, 503 otherwise. No login."""
    healthy, body = health_report()
    return JsonResponse(body, status=200 if healthy else 503)
