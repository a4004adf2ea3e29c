from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse

from core.exceptions import (
    UpstreamUnavailable,
    body_too_large_body,
    database_unavailable_body,
    is_unavailable,
)

logger = logging.getLogger("beeapi.errors")


class DatabaseUnavailableMiddleware:
    """Answer 503 JSON (not a 500 page) when a database, or the cache or MQTT broker a
    revocation needs, cannot be reached outside DRF, e.g. in the admin or session lookups."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, UpstreamUnavailable):
            # A revocation the shared cache or the MQTT broker could not take (a device
            # key replaced or a hive deleted from the admin): the change was rolled back;
            # 503 as the API.
            code = exception.default_code
            logger.warning("%s on %s: %s", code, request.path, exception.detail)
            response = JsonResponse({"detail": str(exception.detail), "code": code}, status=503)
            response["Retry-After"] = "5"
            return response
        if is_unavailable(exception):
            logger.warning("database unavailable on %s: %s", request.path, exception)
            response = JsonResponse(database_unavailable_body(), status=503)
            response["Retry-After"] = "5"
            return response
        return None


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


class ReadReplicaMiddleware:
    """Let read-only requests read from replicas, with read-your-writes.

    Does nothing unless read replicas are configured (``POSTGRES_REPLICA_URLS``,
    ``TIMESCALE_REPLICA_URLS``). Then, for each request (see beeapi/replicas.py):

    - POST, PUT, PATCH, DELETE (any method but GET, HEAD, OPTIONS) read the primary
      throughout, and so does the rest of a request once it writes;
    - a request that wrote pins its client to the primary for ``READ_YOUR_WRITES_SECONDS``
      (remembered in the ``replica_pins`` cache: Redis with ``REDIS_URL``, so across
      processes). The client is a keyed hash of its credentials (``Authorization``, else
      ``X-Device-Key``, else the session cookie), else of its address. A session cookie
      the response sets is pinned too (an admin sign-in starts a new session), and reads
      also check the address, so the requests that follow a sign-in or registration made
      without credentials read the primary with their new token;
    - a read-only request whose replica failed (it is then skipped until its next check)
      is answered once more, from the primary, instead of with a 503.
    """

    SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        from beeapi import replicas

        if not replicas.configured():
            return self.get_response(request)
        credential, address = self._client_keys(request)
        safe = request.method in self.SAFE_METHODS
        allowed = safe and not replicas.recently_wrote(k for k in (credential, address) if k)
        with replicas.reading(allowed) as state:
            response = self.get_response(request)
        wrote = state.wrote or not safe
        if allowed and state.replica_failed and response.status_code == 503:
            logger.info("read replica failed on %s: answering from the primary", request.path)
            with replicas.reading(False) as retry:
                response = self.get_response(request)
            wrote = wrote or retry.wrote
        if wrote:
            keys = [credential or address]
            session = response.cookies.get(settings.SESSION_COOKIE_NAME)
            if session is not None and session.value:
                keys.append(replicas.client_key("session:" + session.value))
            replicas.remember_write(keys)
        return response

    @staticmethod
    def _client_keys(request: HttpRequest) -> tuple[str | None, str]:
        from beeapi import replicas
        from beeapi.client_ip import client_ip

        credential = None
        if request.META.get("HTTP_AUTHORIZATION"):
            credential = "authorization:" + request.META["HTTP_AUTHORIZATION"]
        elif request.META.get("HTTP_X_DEVICE_KEY"):
            credential = "device:" + request.META["HTTP_X_DEVICE_KEY"]
        elif request.COOKIES.get(settings.SESSION_COOKIE_NAME):
            credential = "session:" + request.COOKIES[settings.SESSION_COOKIE_NAME]
        address = replicas.client_key("address:" + client_ip(request))
        return (replicas.client_key(credential) if credential else None), address
