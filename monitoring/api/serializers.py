"""Telemetry API shapes.

Query parameters go through DRF serializers (few fields). Readings do not: a batch of
thousands is validated in bulk by telemetry.validation and rendered from plain tuples;
the reading serializers here document those shapes for the OpenAPI schema.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from core.validators import time_zone_names, utc_datetime
from telemetry.selectors import DAILY_COLUMNS, HOURLY_COLUMNS
from telemetry.validation import MAX_FUTURE_SKEW, METRIC_BY_NAME, METRICS

RAW_DEFAULT_RANGE = timedelta(hours=24)
RAW_MAX_RANGE = timedelta(days=31)
RAW_DEFAULT_LIMIT = 500
RAW_MAX_LIMIT = 5000
HOURLY_DEFAULT_RANGE = timedelta(days=7)
HOURLY_MAX_RANGE = timedelta(days=366)
DAILY_DEFAULT_RANGE = timedelta(days=30)
DAILY_MAX_RANGE = timedelta(days=366)


def _metric_field(name: str, **kwargs: Any) -> serializers.FloatField:
    """A metric as telemetry.validation.METRIC_TABLE defines it (the schema documents what
    readings_validate checks)."""
    metric = METRIC_BY_NAME[name]
    return serializers.FloatField(
        min_value=metric.low,
        max_value=metric.high,
        allow_null=True,
        help_text=metric.unit,
        **kwargs,
    )


def _with_fields(
    fields: Mapping[str, serializers.Field],
    made: Mapping[str, serializers.Field],
    order: tuple[str, ...],
) -> dict[str, serializers.Field]:
    """``fields`` (the declared ones) and ``made`` (one per metric or figure), in
    ``order``; declared fields not in it come last."""
    every = {**fields, **made}
    return {
        **{name: every.pop(name) for name in order if name in every},
        **every,
    }


class ReadingSerializer(serializers.Serializer):
    """One reading; ``time`` is ISO 8601 with a timezone, then each metric of
    telemetry.validation.METRIC_TABLE (absent or null where the device has none)."""

    time = serializers.DateTimeField(
        help_text=f"ISO 8601 with timezone; at most {int(MAX_FUTURE_SKEW.total_seconds() // 60)}"
        " minutes ahead of the server clock."
    )

    def get_fields(self) -> dict[str, serializers.Field]:
        metrics = {name: _metric_field(name, required=False) for name in METRICS}
        return _with_fields(super().get_fields(), metrics, ("time", *METRICS))


class ReadingBatchSerializer(serializers.Serializer):
    readings = ReadingSerializer(many=True, help_text="Up to TELEMETRY_MAX_BATCH readings.")


class IngestResultSerializer(serializers.Serializer):
    accepted = serializers.IntegerField(help_text="Readings stored by this request.")
    duplicates = serializers.IntegerField(
        help_text="Readings already stored (or repeated in the batch), ignored."
    )


class TelemetryPageSerializer(serializers.Serializer):
    device_id = serializers.CharField()
    results = ReadingSerializer(many=True, help_text="Newest first.")
    next = serializers.URLField(
        allow_null=True, help_text="The next (older) page, or null on the last page."
    )


def _figure_field(column: str) -> serializers.Field:
    if column == "reading_count":
        return serializers.IntegerField()
    metric, fn = column.rsplit("_", 1)
    return serializers.FloatField(
        allow_null=True, help_text=f"{fn} {METRIC_BY_NAME[metric].unit}; null without any"
    )


class HourlySerializer(serializers.Serializer):
    """avg/min/max of each metric over the hour (null when no reading of it had the
    metric) and the number of readings, as telemetry.selectors.HOURLY_COLUMNS."""

    columns = HOURLY_COLUMNS
    bucket = serializers.DateTimeField(help_text="Start of the hour (UTC).")

    def get_fields(self) -> dict[str, serializers.Field]:
        declared = super().get_fields()
        made = {c: _figure_field(c) for c in self.columns if c not in declared}
        return _with_fields(declared, made, self.columns)


class HourlyPageSerializer(serializers.Serializer):
    device_id = serializers.CharField()
    results = HourlySerializer(many=True, help_text="Newest hour first.")


class DailySerializer(HourlySerializer):
    """The hourly figures' columns per local day, the day's weight change and net weight
    change."""

    columns = DAILY_COLUMNS
    bucket = serializers.DateTimeField(help_text="Start of the day (local midnight of `tz`).")
    weight_change = serializers.FloatField(
        allow_null=True,
        help_text=f"{METRIC_BY_NAME['weight'].unit}: the day's last weight minus its first,"
        " over the readings that have a weight (0 with one such reading, null with none)."
        " Nectar flow shows as a gain.",
    )
    net_weight_change = serializers.FloatField(
        allow_null=True,
        help_text=f"{METRIC_BY_NAME['weight'].unit}: the day's weight changes without those"
        " the beekeeper's work explains (boxes, harvests, feedings, inspections, tares) and"
        " without unexplained jumps larger than NET_WEIGHT_MAX_JUMP_KG within 10 minutes"
        " (a swarm's loss stays); null without a weight.",
    )


class DailyPageSerializer(serializers.Serializer):
    device_id = serializers.CharField()
    results = DailySerializer(
        many=True, help_text="Newest day first; days without readings have no row."
    )


class LatestReadingSerializer(ReadingSerializer):
    device_id = serializers.CharField()


class UtcDateTimeField(serializers.DateTimeField):
    """A query time in UTC, between the years 1900 and 9000 (arithmetic on it is safe)."""

    def to_internal_value(self, value: Any) -> datetime:
        try:
            return utc_datetime(super().to_internal_value(value))
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None


class TimeZoneField(serializers.CharField):
    """An IANA time zone name (``Europe/Berlin``), as the server's tz database knows it."""

    def to_internal_value(self, data: Any) -> str:
        name = super().to_internal_value(data)
        if name != "UTC" and name not in time_zone_names():
            raise serializers.ValidationError(
                f"Unknown time zone {name!r}: use an IANA name such as Europe/Berlin or UTC."
            )
        return name


class _RangeQuerySerializer(serializers.Serializer):
    default_range: timedelta
    max_range: timedelta

    start = UtcDateTimeField(required=False, help_text="ISO 8601; inclusive.")
    end = UtcDateTimeField(required=False, help_text="ISO 8601; inclusive.")
    calibrated = serializers.BooleanField(
        required=False,
        default=True,
        help_text="false: the raw values as the sensor sent them, without the hive's"
        " calibrations (offset, multiplier, temperature compensation).",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        now = datetime.now(UTC)
        end = attrs.get("end")
        start = attrs.get("start") or (end or now) - self.default_range
        if end is not None and end < start:
            raise serializers.ValidationError({"end": ["Must not be before start."]})
        if (end or now) - start > self.max_range:
            raise serializers.ValidationError(
                {"start": [f"The range may span at most {self.max_range.days} days."]}
            )
        return {**attrs, "start": start, "end": end}


class TelemetryQuerySerializer(_RangeQuerySerializer):
    default_range = RAW_DEFAULT_RANGE
    max_range = RAW_MAX_RANGE

    before = UtcDateTimeField(
        required=False, help_text="Cursor: only readings older than this (see `next`)."
    )
    limit = serializers.IntegerField(
        required=False, default=RAW_DEFAULT_LIMIT, min_value=1, max_value=RAW_MAX_LIMIT
    )


class HourlyQuerySerializer(_RangeQuerySerializer):
    default_range = HOURLY_DEFAULT_RANGE
    max_range = HOURLY_MAX_RANGE


class DailyQuerySerializer(_RangeQuerySerializer):
    default_range = DAILY_DEFAULT_RANGE
    max_range = DAILY_MAX_RANGE

    start = UtcDateTimeField(
        required=False,
        help_text="ISO 8601 date or time (a date is that day of `tz`); the whole local day "
        "it falls in is included.",
    )
    end = UtcDateTimeField(
        required=False,
        help_text="ISO 8601 date or time; the whole local day it falls in is included.",
    )
    tz = TimeZoneField(
        required=False,
        help_text="The IANA time zone whose days these are (default: yours, else UTC).",
    )


class NetWeightQuerySerializer(DailyQuerySerializer):
    interval = serializers.ChoiceField(
        choices=["hour", "day"], required=False, default="day", help_text="Bucket width."
    )


class NetWeightSerializer(serializers.Serializer):
    bucket = serializers.DateTimeField(help_text="Start of the hour or local day.")
    weight = serializers.FloatField(help_text="kg: the bucket's last (calibrated) weight.")
    net_weight = serializers.FloatField(
        help_text="kg: the first weight of the range plus every kept change up to the"
        " bucket's last reading."
    )
    net_weight_change = serializers.FloatField(help_text="kg: the bucket's kept changes.")
    explained_change = serializers.FloatField(
        help_text="kg: the bucket's changes left out (events, inspections, tares, jumps)."
    )


class NetWeightPageSerializer(serializers.Serializer):
    device_id = serializers.CharField()
    results = NetWeightSerializer(many=True, help_text="Newest first.")


class LatestQuerySerializer(serializers.Serializer):
    calibrated = serializers.BooleanField(required=False, default=True)
