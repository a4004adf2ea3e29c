"""drf-spectacular hooks."""

from __future__ import annotations

from typing import Any

from drf_spectacular import openapi
from drf_spectacular.drainage import warn
from drf_spectacular.plumbing import build_basic_type, build_parameter_type
from drf_spectacular.settings import spectacular_settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import Direction, OpenApiParameter
from rest_framework.authentication import SessionAuthentication

from core.strict import FORMAT_PARAM, StrictQueryMixin, accepted_query_params, view_formats


def strip_optional_trailing_slash(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    """Document the design's URLs (``/hives``, not ``/hives/``).

    Routes accept both forms (regex ``/?``), which drf-spectacular renders with a slash.
    """
    result["paths"] = {
        (path.rstrip("/") or "/"): operations
        for path, operations in result.get("paths", {}).items()
    }
    return result


# --- Error responses ----------------------------------------------------------------------

ERROR_SCHEMA = {
    "type": "object",
    "description": (
        "An error. `detail` and `code` for errors of the request as a whole; field errors "
        'map each field (or query parameter) to its messages: `{"device_id": ["..."]}`.'
    ),
    "properties": {
        "detail": {"type": "string"},
        "code": {"type": "string"},
    },
    "additionalProperties": True,
}
ERROR_REF = {"$ref": "#/components/schemas/Error"}

_BODY_METHODS = {"POST", "PUT", "PATCH"}
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS", "TRACE"}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ERROR_REF}}}


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's schema, with exactly the query parameters each operation accepts
    and every error answer it can give.

    - Query parameters come from the view's ``allowed_query_params`` (core.strict), the
      same method that refuses the others with a 400: drf-spectacular would document
      ``search`` and ``ordering`` on every list, read or not.
    - The API answers 400/404/406/413/415/429/503 (and 401/403/409 where they apply) as
      JSON; a schema that lists only the success answer lets a client believe nothing
      else comes.
    """

    def _get_parameters(self) -> list[dict[str, Any]]:
        parameters = super()._get_parameters()
        accepted = self._accepted_query_params()
        if accepted is None:
            return parameters
        kept = [p for p in parameters if p["in"] != OpenApiParameter.QUERY or p["name"] in accepted]
        documented = {p["name"] for p in kept if p["in"] == OpenApiParameter.QUERY}
        if FORMAT_PARAM in accepted and FORMAT_PARAM not in documented:
            kept.append(_format_parameter(view_formats(self.view)))
            documented.add(FORMAT_PARAM)
        undocumented = accepted - documented
        if undocumented:
            # The test that generates the schema fails on warnings (tests/foundation).
            warn(
                f"{self.method} {self.path} accepts query parameters the schema does not "
                f"document: {', '.join(sorted(undocumented))}. Describe them with "
                "@extend_schema(parameters=...)."
            )
        if spectacular_settings.SORT_OPERATION_PARAMETERS is True:
            kept.sort(key=lambda p: p["name"])
        return kept

    def _accepted_query_params(self) -> set[str] | None:
        """What the view reads from the query string for this operation, or None for a
        view that does not check (not a core.strict.StrictQueryMixin)."""
        request = getattr(self.view, "request", None)
        if not isinstance(self.view, StrictQueryMixin) or request is None:
            return None
        return accepted_query_params(self.view, request)

    def _get_response_bodies(self, direction: Direction = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        for code, description in self._error_responses():
            responses.setdefault(code, _error(description))
        return dict(sorted(responses.items()))

    def _error_responses(self) -> list[tuple[str, str]]:
        view = self.view
        authenticators = tuple(getattr(view, "authentication_classes", ()) or ())
        errors = [("400", "Invalid input or query parameters; the body names each field.")]
        if not getattr(view, "schema_anonymous", False) or authenticators:
            # Credentials that are sent are checked, even where none are needed.
            errors.append(("401", "Not authenticated, or the credentials are invalid."))
        forbidden = []
        if getattr(view, "schema_role_checked", False):
            forbidden.append(
                "Your role in this apiary does not allow this; the message names the role needed."
            )
        if self.method not in _SAFE_METHODS and any(
            isinstance(cls, type) and issubclass(cls, SessionAuthentication)
            for cls in authenticators
        ):
            forbidden.append(
                "Signed in with the session cookie (the console) without its CSRF token."
            )
        if forbidden:
            errors.append(("403", " Or: ".join(forbidden)))
        if "{" in self.path or self._is_list_view():
            errors.append(("404", "Not found: no such object among yours, or a page past the end."))
        errors.append(("406", "No format of this operation matches the Accept header."))
        # beeapi.middleware.RequestGuardMiddleware checks Content-Length on every request.
        errors.append(("413", "The request body is larger than the limit (in bytes)."))
        if self.method in _BODY_METHODS:
            errors.append(("415", "The body must be JSON (Content-Type: application/json)."))
        if self.method in _BODY_METHODS and getattr(view, "action", None) in getattr(
            view, "conflict_actions", ()
        ):
            errors.append(
                (
                    "409",
                    "Conflicts with what exists: a device_id in use, an address already invited.",
                )
            )
        if getattr(view, "throttle_classes", None) or getattr(view, "schema_throttled", False):
            errors.append(("429", "Too many attempts; see Retry-After."))
        errors.append(("503", "A database this request needs is unavailable; retry."))
        return errors


def _format_parameter(formats: list[str]) -> dict[str, Any]:
    schema = build_basic_type(OpenApiTypes.STR)
    assert schema is not None  # only OpenApiTypes.NONE has no schema
    return build_parameter_type(
        name="format",
        schema=schema,
        location=OpenApiParameter.QUERY,
        enum=formats,
        description="The response format (instead of the Accept header).",
    )


def add_error_component(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["Error"] = ERROR_SCHEMA
    # Request bodies refuse fields they do not have (core.strict.StrictFieldsMixin).
    for name, component in schemas.items():
        if name.endswith("Request") and component.get("type") == "object":
            component.setdefault("additionalProperties", False)
    return result
