from __future__ import annotations

import csv
import io
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
        renderer_context: dict[str, Any] | None = None,
    ) -> str:
        columns = renderer_context["view"].csv_columns  # type: ignore[index]
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        for row in data.get("results", []):
            writer.writerow(["" if row[c] is None else row[c] for c in columns])
        return out.getvalue()
