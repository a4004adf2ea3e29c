"""JSON in: one parser for every API view (telemetry ingestion parses its body with
orjson itself, see monitoring.api.views).

Python's json module recurses per nesting level, so a body nested thousands of levels
deep raises RecursionError (a 500) before any validation runs; the parser turns it into
a 400 naming the problem.
"""

from __future__ import annotations

from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError

TOO_DEEP = "JSON parse error - nested too deeply."


class JSONParser(parsers.JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(TOO_DEEP) from None
