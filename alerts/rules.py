"""The parameters of each kind of rule: defaults, ranges and the words of alerts.

One definition serves the API, the admin and the evaluation. ``params_validate`` fills
in defaults and refuses unknown keys, so a misspelt threshold is an error rather than a
rule that silently uses its default.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from rest_framework import serializers

from alerts.models import Kind
from core.errors import flatten_errors
from core.strict import json_type_problem
from telemetry.validation import METRIC_BY_NAME, METRICS

_TEMPERATURE = METRIC_BY_NAME["temperature"]
_BATTERY = METRIC_BY_NAME["battery"]
_RSSI = METRIC_BY_NAME["rssi"]
_SNR = METRIC_BY_NAME["snr"]
# A low_battery alert ends once the battery is this much above ``below``: a battery
# hovering at the threshold (it sags under load, recovers at rest) raises one alert,
# not one per dip.
BATTERY_HYSTERESIS_V = 0.1


def _bound(value: float) -> float:
    """A range's bound as DRF's error message should show it: ``-40``, not ``-40.0``."""
    return int(value) if value.is_integer() else value


class SwarmParams(serializers.Serializer):
    drop_kg = serializers.FloatField(
        min_value=0.1, max_value=50, default=1.5, help_text="Weight loss that is a swarm (kg)."
    )
    window_minutes = serializers.IntegerField(
        min_value=1, max_value=240, default=30, help_text="...within this many minutes."
    )


class BroodTemperatureParams(serializers.Serializer):
    # Bounds a sensor can report (telemetry.validation.METRIC_TABLE).
    min = serializers.FloatField(
        min_value=_bound(_TEMPERATURE.low), max_value=_bound(_TEMPERATURE.high), default=32.0
    )
    max = serializers.FloatField(
        min_value=_bound(_TEMPERATURE.low), max_value=_bound(_TEMPERATURE.high), default=36.5
    )
    for_minutes = serializers.IntegerField(min_value=1, max_value=1440, default=30)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["min"] >= attrs["max"]:
            raise serializers.ValidationError({"max": "Must be above min."})
        return attrs


# The longest silence a no_data rule watches for (a week).
NO_DATA_MAX_MINUTES = 10080


class NoDataParams(serializers.Serializer):
    minutes = serializers.IntegerField(
        min_value=5,
        max_value=NO_DATA_MAX_MINUTES,
        default=60,
        help_text="Silence that raises the alert.",
    )


class ThresholdParams(serializers.Serializer):
    metric = serializers.ChoiceField(list(METRICS))
    above = serializers.FloatField(required=False, allow_null=True, default=None)
    below = serializers.FloatField(required=False, allow_null=True, default=None)
    for_minutes = serializers.IntegerField(min_value=0, max_value=1440, default=10)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        above, below = attrs.get("above"), attrs.get("below")
        if above is None and below is None:
            raise serializers.ValidationError({"above": "Give above, below or both."})
        metric = METRIC_BY_NAME[attrs["metric"]]
        for name in ("above", "below"):
            value = attrs.get(name)
            if value is not None and not metric.low <= value <= metric.high:
                raise serializers.ValidationError(
                    {
                        name: f"Out of range for {metric.name}: {metric.low:g} to "
                        f"{metric.high:g} {metric.unit}."
                    }
                )
        return attrs


class LowBatteryParams(serializers.Serializer):
    below = serializers.FloatField(
        min_value=_bound(_BATTERY.low),
        max_value=_bound(_BATTERY.high),
        default=3.4,
        help_text="Battery voltage under which the sensor needs attention (V).",
    )
    for_minutes = serializers.IntegerField(min_value=1, max_value=1440, default=30)


class WeakSignalParams(serializers.Serializer):
    # Either may be null (that metric is not watched), not both.
    rssi_below = serializers.FloatField(
        min_value=_bound(_RSSI.low),
        max_value=_bound(_RSSI.high),
        allow_null=True,
        default=-115.0,
        help_text="Received signal strength under which the link is weak (dBm).",
    )
    snr_below = serializers.FloatField(
        min_value=_bound(_SNR.low),
        max_value=_bound(_SNR.high),
        allow_null=True,
        default=-10.0,
        help_text="Signal-to-noise ratio under which the link is weak (dB).",
    )
    for_minutes = serializers.IntegerField(min_value=1, max_value=1440, default=60)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("rssi_below") is None and attrs.get("snr_below") is None:
            raise serializers.ValidationError({"rssi_below": "Give rssi_below, snr_below or both."})
        return attrs


SCHEMAS: dict[str, type[serializers.Serializer]] = {
    Kind.SWARM: SwarmParams,
    Kind.BROOD_TEMPERATURE: BroodTemperatureParams,
    Kind.NO_DATA: NoDataParams,
    Kind.THRESHOLD: ThresholdParams,
    Kind.LOW_BATTERY: LowBatteryParams,
    Kind.WEAK_SIGNAL: WeakSignalParams,
}

# Every beekeeper starts with these, account-wide (they may change or disable them).
# The sensor-health kinds (low_battery, weak_signal) are not among them: many sensors
# send neither metric, and a rule is created on purpose, defaults filled in.
DEFAULT_KINDS = (Kind.SWARM, Kind.BROOD_TEMPERATURE, Kind.NO_DATA)
WEIGHT_KINDS = frozenset({Kind.SWARM})


def params_validate(kind: str, params: Any) -> dict[str, Any]:
    """The complete params of a ``kind`` rule; ValidationError on ``params`` otherwise."""
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise ValidationError({"params": "Must be a JSON object."})
    schema = SCHEMAS[kind]
    allowed = list(schema().fields)
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ValidationError(
            {
                "params": [
                    f"{key}: not a parameter of a {kind} rule (allowed: {', '.join(allowed)})."
                    for key in unknown
                ]
            }
        )
    # JSON types are not coerced, as everywhere in the API: "60" is not a number.
    wrong = [
        f"{key}: {problem}"
        for key, value in params.items()
        if value is not None and (problem := json_type_problem(schema().fields[key], value))
    ]
    if wrong:
        raise ValidationError({"params": wrong})
    serializer = schema(data=params)
    if not serializer.is_valid():
        raise ValidationError({"params": flatten_errors(serializer.errors)})
    return dict(serializer.validated_data)


def params_default(kind: str) -> dict[str, Any]:
    return params_validate(kind, {})


def uses_weight(kind: str, params: dict[str, Any]) -> bool:
    """Rules that inspections silence: a beekeeper lifting boxes moves the scale."""
    return kind in WEIGHT_KINDS or (kind == Kind.THRESHOLD and params.get("metric") == "weight")
