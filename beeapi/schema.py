"""drf-spectacular hooks."""

from __future__ import annotations

from typing import Any


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
