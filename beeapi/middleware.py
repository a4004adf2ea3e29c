from __future__ import annotations

import logging
from collections.abc import Callable

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
