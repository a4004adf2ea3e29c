from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse

from beeapi.exceptions import database_unavailable_body, is_unavailable

logger = logging.getLogger("beeapi.errors")


class DatabaseUnavailableMiddleware:
    """Answer 503 JSON (not a 500 page) when a database cannot be reached outside DRF,
    e.g. in the admin or session lookups."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if is_unavailable(exception):
            logger.warning("database unavailable on %s: %s", request.path, exception)
            response = JsonResponse(database_unavailable_body(), status=503)
            response["Retry-After"] = "5"
            return response
        return None


def body_too_large_body() -> dict[str, object]:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return {
        "detail": f"Request body too large: at most {limit} bytes.",
        "code": "body_too_large",
        "max_bytes": limit,
    }


def body_too_large_response() -> JsonResponse:
    return JsonResponse(body_too_large_body(), status=413)


class RequestGuardMiddleware:
    """Refuse, as JSON and before any work, requests no endpoint can serve.

    - a body over DATA_UPLOAD_MAX_MEMORY_SIZE: 413 (Django would answer an HTML 400 page
      when something reads it, or read it whole first);
    - a NUL character in the path or the query: 400 (PostgreSQL cannot compare text
      holding NUL, so a search or filter with one ended in a 500).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return JsonResponse(
                {"detail": "Content-Length must be a number.", "code": "bad_request"}, status=400
            )
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is not None and length > limit:
            return body_too_large_response()
        if "\x00" in request.path or any(
            "\x00" in key or "\x00" in value
            for key, values in request.GET.lists()
            for value in values
        ):
            return JsonResponse(
                {"detail": "NUL characters are not allowed in the URL.", "code": "bad_request"},
                status=400,
            )
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, RequestDataTooBig):
            return body_too_large_response()
        return None
