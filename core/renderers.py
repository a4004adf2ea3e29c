from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from typing import Any

from rest_framework.renderers import BaseRenderer


class CSVRenderer(BaseRenderer):
    """``?format=csv``: the ``results`` of a telemetry response as a spreadsheet.

    Columns come from the view's ``csv_columns``, so an empty result still has its header.
    """

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> str:
        assert renderer_context is not None  # DRF's Response passes the view's context
        columns = renderer_context["view"].csv_columns
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        for row in data.get("results", []):
            writer.writerow(["" if row[c] is None else row[c] for c in columns])
        return out.getvalue()
