"""The API's schema documents every metric of the table, in the order the answers (JSON
keys and CSV columns) carry them (no database needed)."""

from __future__ import annotations

from drf_spectacular.generators import SchemaGenerator

from monitoring.api.serializers import (
    DailySerializer,
    HourlySerializer,
    LatestReadingSerializer,
    ReadingSerializer,
)
from telemetry.selectors import DAILY_COLUMNS, HOURLY_COLUMNS
from telemetry.validation import METRIC_BY_NAME, METRICS


def test_the_serializers_have_every_metric_in_the_answers_order() -> None:
    assert list(ReadingSerializer().fields) == ["time", *METRICS]
    assert list(LatestReadingSerializer().fields) == ["time", *METRICS, "device_id"]
    assert list(HourlySerializer().fields) == list(HOURLY_COLUMNS)
    assert list(DailySerializer().fields) == list(DAILY_COLUMNS)
    assert DailySerializer().fields["bucket"].help_text == (
        "Start of the day (local midnight of `tz`)."
    )


def test_the_schema_documents_the_new_metrics() -> None:
    schemas = SchemaGenerator().get_schema(request=None, public=True)["components"]["schemas"]
    reading = schemas["Reading"]["properties"]
    for name in ("outside_temperature", "battery", "rssi", "snr"):
        metric = METRIC_BY_NAME[name]
        assert reading[name]["minimum"] == metric.low and reading[name]["maximum"] == metric.high
        assert reading[name]["description"] == metric.unit and reading[name]["nullable"]
        for fn in ("avg", "min", "max"):
            assert schemas["Hourly"]["properties"][f"{name}_{fn}"]["nullable"]
            assert f"{name}_{fn}" in schemas["Daily"]["properties"]
