from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from django.views.decorators.http import require_GET

from beeapi.health import health_report


@require_GET
def health(request: HttpRequest) -> JsonResponse:
    """Per-database reachability; 200 when both answer, 503 otherwise. No login."""
    healthy, body = health_report()
    return JsonResponse(body, status=200 if healthy else 503)


def _is_html_page(request: HttpRequest) -> bool:
    # The admin and the live page are for people; everything else is the JSON API.
    return request.path.startswith("/admin/") or request.path.endswith("/live")


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """404 for a URL no route matches: JSON like every API error (HTML for pages)."""
    if _is_html_page(request):
        return defaults.page_not_found(request, exception)
    return JsonResponse({"detail": "Not found.", "code": "not_found"}, status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    """The last resort: a 500 is a bug, logged by Django; the client still gets JSON."""
    if _is_html_page(request):
        return defaults.server_error(request)
    return JsonResponse(
        {"detail": "Internal server error. It has been logged.", "code": "server_error"},
        status=500,
    )
