"""An alert's ``values`` in words: (label, text) pairs for pages (and any message that
shows them), instead of the JSON object the API and webhooks carry.

The figures of an alert are the reading that raised it (named by its metric:
``temperature``, ``battery``, ...), the rule's limits that it crossed (``min``, ``max``,
``above``, ``below``, ``rssi_below``, ...), how long, and since when. A limit takes the
unit of the metric it limits: the metric among the values (``min`` of a brood alert is
°C), or the one a ``<metric>_below`` names.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.utils import timezone

from alerts.models import Kind
from telemetry.validation import METRIC_BY_NAME

# Keys with their own words. Limits (min, max, above, below) are labelled per metric.
_LABELS = {
    "weight_before_kg": ("Weight before", "kg"),
    "weight_after_kg": ("Weight after", "kg"),
    "lost_kg": ("Weight lost", "kg"),
    "silent_minutes": ("Silent for", "min"),
    "since": ("Since", None),
    "last_reading_at": ("Last reading", None),
}
_LIMITS = {
    "min": "Lowest allowed",
    "max": "Highest allowed",
    "above": "Upper limit",
    "below": "Lower limit",
}
# "minutes" is how long the condition lasted, except for no_data, where it is the rule's
# silence that raises the alert.
_MINUTES: dict[str, str] = {Kind.NO_DATA: "Alert after silence of", Kind.SWARM: "Within"}
# Units a free-form key ends with: "drop_kg" is "Drop: 2.1 kg".
_SUFFIXES = {"_kg": "kg", "_minutes": "min"}


def _number(value: Any, decimals: int | None = None) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    text = f"{value:.{decimals}f}" if decimals is not None else f"{value:g}"
    return text.replace("-", "−")  # a real minus sign, as the console's figures


def _with_unit(value: Any, unit: str | None, decimals: int | None = None) -> str:
    text = _number(value, decimals)
    return f"{text} {unit}" if unit and isinstance(value, int | float) else text


def _time(value: Any) -> str:
    try:
        when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value)
    if timezone.is_naive(when):
        return str(value)
    return f"{timezone.localtime(when):%Y-%m-%d %H:%M %Z}"


def _text(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Mapping):
        return "; ".join(f"{str(k).replace('_', ' ')}: {_text(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_text(item) for item in value)
    return _number(value)


def values_fields(kind: str, values: Any) -> list[tuple[str, str]]:
    """The alert's ``values`` as (label, text) pairs, in their stored order."""
    if not isinstance(values, Mapping):
        return []
    metric = next((METRIC_BY_NAME[key] for key in values if key in METRIC_BY_NAME), None)
    pairs = []
    for key, value in values.items():
        if key in METRIC_BY_NAME:
            shown = METRIC_BY_NAME[key]
            pairs.append((shown.label, _with_unit(value, shown.unit, shown.decimals)))
        elif key in _LIMITS:
            unit, decimals = (metric.unit, metric.decimals) if metric else (None, None)
            pairs.append((_LIMITS[key], _with_unit(value, unit, decimals)))
        elif key.endswith("_below") and key.removesuffix("_below") in METRIC_BY_NAME:
            limited = METRIC_BY_NAME[key.removesuffix("_below")]
            limit = _with_unit(value, limited.unit, limited.decimals)
            pairs.append((f"{limited.label} limit", limit))
        elif key == "minutes":
            pairs.append((_MINUTES.get(kind, "For"), _with_unit(value, "min")))
        elif key in _LABELS:
            label, unit = _LABELS[key]
            text = _time(value) if unit is None else _with_unit(value, unit)
            pairs.append((label, text))
        else:
            unit = next((u for suffix, u in _SUFFIXES.items() if key.endswith(suffix)), None)
            name = key.removesuffix(next((s for s in _SUFFIXES if key.endswith(s)), ""))
            label = name.replace("_", " ").capitalize()
            pairs.append((label, _with_unit(value, unit) if unit else _text(value)))
    return pairs
