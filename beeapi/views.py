from __future__ import annotations

from django.contrib.staticfiles import finders
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views import defaults
from django.views.decorators.http import require_GET

from beeapi.health import health_report


@require_GET
def health(request: HttpRequest) -> JsonResponse:
    """Per-database reachability; 200 when both answer, 503 otherwise. No login."""
    healthy, body = health_report()
    return JsonResponse(body, status=200 if healthy else 503)


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """The landing page: where the console, the API docs and the health check are."""
    return render(request, "beeapi/home.html")


@require_GET
def favicon(request: HttpRequest) -> FileResponse:
    """/favicon.ico, which browsers ask for on every page (the admin's "View site" too)."""
    path = finders.find("beeapi/favicon.svg")
    response = FileResponse(open(path, "rb"), content_type="image/svg+xml")  # noqa: SIM115
    response["Cache-Control"] = "public, max-age=86400"
    return response


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
