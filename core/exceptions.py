"""API error shape: every error is JSON, database outages are 503, never a 500."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DatabaseError, InterfaceError, OperationalError
from rest_framework import status
from rest_framework.exceptions import APIException, PermissionDenied, ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger("beeapi.errors")


class ServiceUnavailable(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "A database this request needs is unavailable. Try again shortly."
    default_code = "database_unavailable"


class UpstreamUnavailable(APIException):
    """A service a change needs besides the database (the entities cache, the MQTT broker)
    did not take its part, so the change was refused as a whole (503): it may be retried
    once the service answers. Subclasses name the service (``default_code``) and say what
    was not changed (``detail``). The API answers it as JSON; the admin shows the detail
    as a message, and anything else outside DRF gets 503 JSON
    (beeapi.middleware.DatabaseUnavailableMiddleware)."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The change could not be saved: a service it needs is unavailable. Try again."
    default_code = "service_unavailable"


def database_unavailable_body(alias: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "detail": ServiceUnavailable.default_detail,
        "code": ServiceUnavailable.default_code,
    }
    if alias:
        body["database"] = alias
    return body


def is_unavailable(exc: BaseException) -> bool:
    """True for errors that mean "cannot reach the server", not "bad query"."""
    return isinstance(exc, (OperationalError, InterfaceError))


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DjangoValidationError):
        # Services raise Django's ValidationError (the admin understands it too); the API
        # answers it as a 400 keyed by field, like serializer errors.
        # Model-wide errors (a violated constraint) come keyed "__all__": the API's name
        # for them is non_field_errors, as in DRF's own answers.
        detail = (
            {
                ("non_field_errors" if key == NON_FIELD_ERRORS else key): messages
                for key, messages in exc.message_dict.items()
            }
            if hasattr(exc, "error_dict")
            else {"non_field_errors": exc.messages}
        )
        # A service error may carry its own status (409 for a conflict); 400 otherwise.
        http_status = getattr(exc, "http_status", status.HTTP_400_BAD_REQUEST)
        exc = ValidationError(detail=detail)
        exc.status_code = http_status
    if isinstance(exc, DjangoPermissionDenied) and str(exc):
        # A service's refusal names what is missing ("needs the editor role"); DRF would
        # replace it with a generic message.
        exc = PermissionDenied(detail=str(exc), code=getattr(exc, "code", "permission_denied"))
    if isinstance(exc, DatabaseError) and is_unavailable(exc):
        logger.warning("database unavailable: %s", exc)
        return Response(
            database_unavailable_body(),
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "5"},
        )
    return drf_exception_handler(exc, context)


def body_too_large_body() -> dict[str, object]:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return {
        "detail": f"Request body too large: at most {limit} bytes.",
        "code": "body_too_large",
        "max_bytes": limit,
    }
