from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.staticfiles import finders
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular import views as spectacular_views
from rest_framework.exceptions import MethodNotAllowed
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from beeapi.health import health_report
from core.strict import implements_method


def method_not_allowed(method: str, allowed: list[str]) -> JsonResponse:
    """405 as JSON, with the Allow header RFC 9110 requires (as the API views answer)."""
    response = JsonResponse(
        {"detail": f'Method "{method}" not allowed.', "code": "method_not_allowed"}, status=405
    )
    response["Allow"] = ", ".join(allowed)
    return response


def require_GET(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """GET only; any other method (TRACE, BREW...) is a JSON 405.

    Django's decorator answers an empty text/html 405, and, as these views never took a
    form, the CSRF check would first answer a POST or BREW with its HTML 403 page. They
    change nothing, so there is nothing for CSRF to protect.
    """

    @wraps(view)
    def guarded(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponseBase:
        if request.method != "GET":
            return method_not_allowed(request.method or "", ["GET"])
        return view(request, *args, **kwargs)

    return csrf_exempt(guarded)


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
    assert path is not None  # beeapi/static/ ships it
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


class _JSONErrorsMixin:
    # The schema and its documentation pages answer errors as JSON like the API: DRF
    # would render a 405 for TRACE /schema as OpenAPI YAML, and check credentials (CSRF
    # included) before it looks at the method.

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        if not implements_method(self, request.method or ""):
            raise MethodNotAllowed(request.method or "")
        super().initial(request, *args, **kwargs)  # type: ignore[misc]

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]
        if response.status_code >= 400 and isinstance(response, Response):
            response.accepted_renderer = JSONRenderer()
            response.accepted_media_type = JSONRenderer.media_type
        return response


class SpectacularAPIView(_JSONErrorsMixin, spectacular_views.SpectacularAPIView):
    """``/schema``."""


class SpectacularSwaggerView(_JSONErrorsMixin, spectacular_views.SpectacularSwaggerView):
    """``/docs``."""


class SpectacularRedocView(_JSONErrorsMixin, spectacular_views.SpectacularRedocView):
    """``/redoc``."""
