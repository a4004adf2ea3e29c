"""Each rule written once: the metrics table (names, plausible ranges, labels, units) of
telemetry.validation, and the time form of core.times, are what every user of them reads
(no database needed)."""

from __future__ import annotations

import importlib
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from rest_framework import serializers

from alerts.rules import BroodTemperatureParams, ThresholdParams
from console.admin_pages import metric_text
from console.live_views import CHARTS
from core.times import iso_time, query_time
from monitoring.api.serializers import HourlySerializer, ReadingSerializer
from telemetry.models import Reading
from telemetry.validation import (
    METRIC_RANGES,
    METRIC_TABLE,
    METRICS,
    Metric,
    ReadingsInvalid,
    ValidReading,
    readings_validate,
    stored_reading_errors,
)

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
AT = "2026-06-01T11:00:00Z"


def test_the_table_orders_the_metrics_as_readings_hold_them() -> None:
    assert METRICS == tuple(metric.name for metric in METRIC_TABLE)
    assert ValidReading._fields == ("time", *METRICS, "stamp")
    assert [field.name for field in Reading._meta.get_fields()][-len(METRICS) :] == list(METRICS)
    assert METRIC_RANGES == {m.name: (m.low, m.high, m.unit) for m in METRIC_TABLE}


@pytest.mark.parametrize("metric", METRIC_TABLE, ids=METRICS)
def test_both_validation_paths_take_the_table_bounds(metric: Metric) -> None:
    # The bounds themselves pass the inlined check (the fast path).
    for value in (metric.low, metric.high):
        valid, _ = readings_validate([{"time": AT, metric.name: value}], device_id="d", now=NOW)
        assert getattr(valid[0], metric.name) == value
    # Just outside, the field-by-field check (the slow path) says what the table says.
    for value in (metric.low - 0.01, metric.high + 0.01):
        with pytest.raises(ReadingsInvalid) as caught:
            readings_validate([{"time": AT, metric.name: value}], device_id="d", now=NOW)
        assert caught.value.errors == {
            "0": {
                metric.name: [
                    f"Out of range: expected {metric.low:g} to {metric.high:g} {metric.unit}."
                ]
            }
        }


@pytest.mark.parametrize("metric", METRIC_TABLE, ids=METRICS)
def test_the_schema_documents_the_table(metric: Metric) -> None:
    fields = ReadingSerializer().fields
    assert list(fields) == ["time", *METRICS]
    field = fields[metric.name]
    assert isinstance(field, serializers.FloatField)
    assert (field.min_value, field.max_value, field.help_text) == (
        metric.low,
        metric.high,
        metric.unit,
    )
    hourly = HourlySerializer().fields
    assert {f"{metric.name}_{fn}" for fn in ("avg", "min", "max")} <= set(hourly)


def test_the_migrations_name_metrics_of_the_table() -> None:
    """Migrations are history: they spell out the metrics of their day (a metric added
    later gets a migration of its own), each of which the table still holds."""
    for name in ("0003_readings_hourly", "0005_hourly_rollup", "0007_more_metrics"):
        spelled = importlib.import_module(f"telemetry.migrations.{name}").METRICS
        assert set(spelled) <= set(METRICS), name


def test_alert_rules_take_the_table_ranges() -> None:
    temperature = next(m for m in METRIC_TABLE if m.name == "temperature")
    for field in ("min", "max"):
        bound = BroodTemperatureParams().fields[field]
        assert (bound.min_value, bound.max_value) == (temperature.low, temperature.high)
    for metric in METRIC_TABLE:
        params = ThresholdParams(data={"metric": metric.name, "above": metric.high + 1})
        assert not params.is_valid()
        assert params.errors["above"] == [
            f"Out of range for {metric.name}: {metric.low:g} to {metric.high:g} {metric.unit}."
        ]


def test_the_console_labels_and_units_come_from_the_table() -> None:
    assert CHARTS == [(m.name, m.label, m.unit, m.decimals) for m in METRIC_TABLE]
    for metric in METRIC_TABLE:
        assert metric_text(metric.name, 1.0) == f"{1.0:.{metric.decimals}f} {metric.unit}"


def test_an_imported_reading_meets_the_rules_of_post_telemetry_but_the_retention() -> None:
    others = (None,) * (len(METRICS) - 2)
    values = (35.0, None, *others)
    assert stored_reading_errors(NOW - timedelta(days=3650), values, now=NOW) == {}
    future = stored_reading_errors(NOW + timedelta(minutes=6), values, now=NOW)
    assert future == {"time": ["More than 5 minutes in the future; check the device clock."]}
    wrong = stored_reading_errors(NOW, (120.0, float("nan"), *others), now=NOW)
    assert wrong == {
        "temperature": ["Out of range: expected -40 to 85 °C."],
        "humidity": ["A finite number is required."],
    }
    empty = stored_reading_errors(NOW, (None,) * len(METRICS), now=NOW)
    assert list(empty) == ["non_field_errors"]


def test_times_are_written_utc_with_a_z() -> None:
    assert iso_time(NOW) == "2026-06-01T12:00:00Z"
    assert iso_time(NOW.replace(microsecond=1500)) == "2026-06-01T12:00:00.001500Z"
    assert iso_time(datetime(2026, 6, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))) == (
        "2026-06-01T12:00:00Z"
    )


def test_a_query_time_gets_back_the_plus_of_its_offset() -> None:
    assert query_time("2026-06-01T12:00:00 02:00") == "2026-06-01T12:00:00+02:00"
    assert query_time("2026-06-01T12:00:00Z") == "2026-06-01T12:00:00Z"


# What a second copy of core.times would look like.
COPIES = re.compile(
    r"""replace\(\s*["']\+00:00["']|isoformat\(\)\[:-6\]|%SZ|replace\(\s*["'] ["'],\s*["']\+["']"""
)


def test_times_are_formatted_in_one_place() -> None:
    packages = [
        entry
        for entry in ROOT.iterdir()
        if entry.is_dir() and entry.name != "tests" and (entry / "__init__.py").is_file()
    ]
    copies = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for package in packages
        for path in sorted(package.rglob("*.py"))
        if path != ROOT / "core" / "times.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if COPIES.search(line)
    ]
    assert copies == []
