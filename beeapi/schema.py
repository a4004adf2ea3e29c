"""drf-spectacular hooks."""

from __future__ import annotations

from typing import Any

from drf_spectacular import openapi


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


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ERROR_REF}}}


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's schema plus the error answers every operation can give.

    The API answers 400/404/413/415/429/503 (and 401/409 where they apply) as JSON; a
    schema that lists only the success answer lets a client believe nothing else comes.
    """

    def _get_response_bodies(self, direction: str = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        for code, description in self._error_responses():
            responses.setdefault(code, _error(description))
        return responses

    def _error_responses(self) -> list[tuple[str, str]]:
        view = self.view
        errors = [("400", "Invalid input or query parameters; the body names each field.")]
        if not getattr(view, "schema_anonymous", False):
            errors.append(("401", "Not authenticated, or the credentials are invalid."))
        if getattr(view, "schema_role_checked", False):
            errors.append(
                (
                    "403",
                    "Your role in this apiary does not allow this; the message "
                    "names the role needed.",
                )
            )
        if "{" in self.path or self._is_list_view():
            errors.append(("404", "Not found: no such object among yours, or a page past the end."))
        if self.method in _BODY_METHODS:
            errors.append(("413", "The request body is larger than the limit (in bytes)."))
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


def add_error_component(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["Error"] = ERROR_SCHEMA
    # Request bodies refuse fields they do not have (beeapi.strict.StrictFieldsMixin).
    for name, component in schemas.items():
        if name.endswith("Request") and component.get("type") == "object":
            component.setdefault("additionalProperties", False)
    return result
