"""Per-type validation of an event's ``details`` object, and its short text.

Typed events accept only their documented keys, so a misspelt key is an error rather
than silently lost data. Free-form types accept any JSON object; a split's documented keys
(the new hive and queen) are typed, and other keys are kept as sent, so a split's
free-form keys stay valid.

The API, the admin and commands validate details here, through apiary.services (which
also checks that a split names hives and queens the user sees). The admin builds its
typed form fields from these serializers, so labels, choices and limits are the API's.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from rest_framework import serializers

from core.errors import DetailError, flatten_errors

TEMPERAMENTS = [("calm", "calm"), ("nervous", "nervous"), ("aggressive", "aggressive")]
FEEDS = [
    ("syrup_1_1", "syrup 1:1"),
    ("syrup_2_1", "syrup 2:1"),
    ("fondant", "fondant"),
    ("pollen", "pollen"),
    ("honey", "honey"),
    ("other", "other"),
]


class InspectionDetails(serializers.Serializer):
    queen_seen = serializers.BooleanField(required=False)
    eggs_seen = serializers.BooleanField(required=False)
    larvae_seen = serializers.BooleanField(required=False)
    queen_cells = serializers.IntegerField(min_value=0, max_value=100, required=False)
    frames_of_brood = serializers.IntegerField(min_value=0, max_value=40, required=False)
    frames_of_bees = serializers.IntegerField(
        min_value=0, max_value=40, required=False, help_text="Frames covered with bees."
    )
    frames_of_honey = serializers.IntegerField(min_value=0, max_value=40, required=False)
    temperament = serializers.ChoiceField(TEMPERAMENTS, required=False)
    varroa_count = serializers.IntegerField(
        min_value=0, required=False, help_text="Mites counted (board, wash or sugar roll)."
    )


class FeedingDetails(serializers.Serializer):
    feed = serializers.ChoiceField(FEEDS)
    litres = serializers.FloatField(
        min_value=0.01, max_value=100, required=False, label="Amount (litres)"
    )
    kg = serializers.FloatField(min_value=0.01, max_value=100, required=False, label="Amount (kg)")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "litres" not in attrs and "kg" not in attrs:
            raise serializers.ValidationError({"litres": "Give the amount in litres or kg."})
        return attrs


class TreatmentDetails(serializers.Serializer):
    product = serializers.CharField(max_length=100)
    dose = serializers.CharField(max_length=100, required=False)
    method = serializers.CharField(
        max_length=100, required=False, help_text="Trickled, sublimated, strips, ..."
    )
    withdrawal_end = serializers.DateField(
        required=False,
        label="Withdrawal period ends",
        help_text="No honey for people from this hive until this date (YYYY-MM-DD).",
    )


class HarvestDetails(serializers.Serializer):
    kg = serializers.FloatField(min_value=0.01, max_value=1000, label="Weight (kg)")
    frames = serializers.IntegerField(min_value=0, max_value=200, required=False)
    honey_type = serializers.CharField(max_length=100, required=False)


class BoxDetails(serializers.Serializer):
    # The weight the scale gains or loses: alerts read it as the reason for a jump.
    kg = serializers.FloatField(
        min_value=0.01, max_value=100, label="Weight (kg)", help_text="The box as weighed."
    )


class SplitDetails(serializers.Serializer):
    # Ids of objects the user sees: checked by apiary.services, which knows the user.
    new_hive = serializers.IntegerField(
        min_value=1, required=False, help_text="The hive the split went into (its id)."
    )
    new_queen = serializers.IntegerField(
        min_value=1, required=False, help_text="The queen heading the new colony (her id)."
    )


SCHEMAS: dict[str, type[serializers.Serializer]] = {
    "inspection": InspectionDetails,
    "feeding": FeedingDetails,
    "treatment": TreatmentDetails,
    "harvest": HarvestDetails,
    "box_added": BoxDetails,
    "box_removed": BoxDetails,
    "split": SplitDetails,
}
# Types whose schema names some keys and lets others through (a split keeps free-form
# keys).
OPEN_SCHEMAS = {"split"}


def schema_fields(event_type: str) -> dict[str, serializers.Field]:
    """The typed keys of ``event_type`` in order, with their serializer fields ({} when
    the type is free-form)."""
    schema = SCHEMAS.get(event_type)
    return dict(schema().fields) if schema else {}


# Free-form details are notes with structure, not a document store: bounded in nesting
# and size, and free of NUL characters, which PostgreSQL's jsonb cannot hold.
MAX_DEPTH = 5
MAX_BYTES = 16_384


def _shape_problem(value: Any, depth: int = 1) -> str | None:
    if isinstance(value, str):
        return "Text cannot contain NUL (\\u0000) characters." if "\x00" in value else None
    if isinstance(value, dict | list):
        if depth > MAX_DEPTH:
            return f"Nested more than {MAX_DEPTH} levels deep."
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            problem = _shape_problem(key, depth) or _shape_problem(item, depth + 1)
            if problem:
                return problem
    return None


def _json_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date) else value


def details_validate(
    event_type: str, details: Any, *, occurred_at: dt.datetime | None = None
) -> dict[str, Any]:
    """The cleaned ``details`` for ``event_type``; ValidationError naming the key otherwise.

    ``occurred_at`` (the event's time) bounds dates in the details: a treatment's
    withdrawal period cannot end before the treatment.
    """
    if details is None:
        details = {}
    if not isinstance(details, dict):
        raise ValidationError({"details": "Must be a JSON object."})
    problem = _shape_problem(details)
    if problem is None and len(json.dumps(details)) > MAX_BYTES:
        problem = f"At most {MAX_BYTES} bytes of JSON."
    if problem:
        raise ValidationError({"details": problem})
    schema = SCHEMAS.get(event_type)
    if schema is None:
        return details
    fields = schema().fields
    unknown = sorted(set(details) - set(fields))
    if unknown and event_type not in OPEN_SCHEMAS:
        allowed = ", ".join(fields)
        kind = f"{'an' if event_type[:1] in 'aeiou' else 'a'} {event_type} event"
        raise ValidationError(
            {
                "details": [
                    DetailError(key, f"not a field of {kind} (allowed: {allowed}).")
                    for key in unknown
                ]
            }
        )
    serializer = schema(data={key: value for key, value in details.items() if key in fields})
    if not serializer.is_valid():
        raise ValidationError({"details": flatten_errors(serializer.errors)})
    cleaned = {key: _json_value(value) for key, value in serializer.validated_data.items()}
    withdrawal_end = serializer.validated_data.get("withdrawal_end")
    if withdrawal_end is not None and isinstance(occurred_at, dt.datetime):
        # The day of the treatment in UTC, as the API writes times.
        treated = (occurred_at.astimezone(dt.UTC) if occurred_at.tzinfo else occurred_at).date()
        if withdrawal_end < treated:
            raise ValidationError(
                {
                    "details": [
                        DetailError(
                            "withdrawal_end",
                            f"The withdrawal period cannot end before the treatment ({treated}).",
                        )
                    ]
                }
            )
    # Keys a split's schema does not name stay as they were sent.
    return {**{key: details[key] for key in unknown}, **cleaned}


# --- Short text ---------------------------------------------------------------------------


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _count(value: Any, one: str, many: str | None = None) -> str:
    return f"{_number(value)} {one if value == 1 else (many or one + 's')}"


def _seen(value: Any, yes: str, no: str) -> str:
    return yes if value else no


def _inspection(d: Mapping[str, Any], labels: Mapping[tuple[str, Any], str]) -> list[str]:
    parts = []
    if "queen_seen" in d:
        parts.append(_seen(d["queen_seen"], "queen seen", "queen not seen"))
    if "eggs_seen" in d:
        parts.append(_seen(d["eggs_seen"], "eggs", "no eggs"))
    if "larvae_seen" in d:
        parts.append(_seen(d["larvae_seen"], "larvae", "no larvae"))
    if "queen_cells" in d:
        cells = d["queen_cells"]
        parts.append(_count(cells, "queen cell") if cells else "no queen cells")
    for key, what in (("brood", "brood"), ("bees", "bees"), ("honey", "honey")):
        if f"frames_of_{key}" in d:
            parts.append(f"{_count(d[f'frames_of_{key}'], 'frame')} {what}")
    if "temperament" in d:
        parts.append(str(d["temperament"]))
    if "varroa_count" in d:
        parts.append(f"varroa {_number(d['varroa_count'])}")
    return parts


def _feeding(d: Mapping[str, Any], labels: Mapping[tuple[str, Any], str]) -> list[str]:
    parts = [dict(FEEDS).get(d["feed"], str(d["feed"]))] if "feed" in d else []
    units = (("litres", "l"), ("kg", "kg"))
    return parts + [f"{_number(d[unit])} {short}" for unit, short in units if unit in d]


def _treatment(d: Mapping[str, Any], labels: Mapping[tuple[str, Any], str]) -> list[str]:
    parts = [str(d[key]) for key in ("product", "dose", "method") if d.get(key)]
    if d.get("withdrawal_end"):
        parts.append(f"withdrawal until {d['withdrawal_end']}")
    return parts


def _harvest(d: Mapping[str, Any], labels: Mapping[tuple[str, Any], str]) -> list[str]:
    parts = [f"{_number(d['kg'])} kg"] if "kg" in d else []
    if "frames" in d:
        parts.append(_count(d["frames"], "frame"))
    if d.get("honey_type"):
        parts.append(str(d["honey_type"]))
    return parts


def _box(d: Mapping[str, Any], labels: Mapping[tuple[str, Any], str]) -> list[str]:
    return [f"{_number(d['kg'])} kg"] if "kg" in d else []


def _split(d: Mapping[str, Any], labels: Mapping[tuple[str, Any], str]) -> list[str]:
    parts = []
    for key, what in (("new_hive", "new hive"), ("new_queen", "new queen")):
        if d.get(key) is not None:
            parts.append(f"{what} {labels.get((key, d[key])) or f'#{d[key]}'}")
    rest = {key: value for key, value in d.items() if key not in ("new_hive", "new_queen")}
    return parts + _free(rest, labels)


def _free(d: Mapping[str, Any], labels: Mapping[tuple[str, Any], str]) -> list[str]:
    # Nested values in words too, in brackets: "weather: (sky: sunny; wind: 3)".
    def text(value: Any) -> str:
        nested = isinstance(value, Mapping | list | tuple)
        return f"({_value_text(value)})" if nested else _value_text(value)

    return [f"{key.replace('_', ' ')}: {text(value)}" for key, value in d.items()]


_SUMMARIES = {
    "inspection": _inspection,
    "feeding": _feeding,
    "treatment": _treatment,
    "harvest": _harvest,
    "box_added": _box,
    "box_removed": _box,
    "split": _split,
}


# --- Labelled fields ----------------------------------------------------------------------


def _value_text(value: Any) -> str:
    """A value as words: yes/no, numbers without trailing zeros, a nested object or list
    as "key: value" pairs (free-form details may nest), never JSON."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None or value == "":
        return "–"
    if isinstance(value, Mapping):
        return "; ".join(f"{str(k).replace('_', ' ')}: {_value_text(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_value_text(item) for item in value)
    return _number(value)


def details_fields(
    event_type: str, details: Any, *, labels: Mapping[tuple[str, Any], str] | None = None
) -> list[tuple[str, str]]:
    """``details`` as (label, text) pairs for pages: the type's typed keys first, in the
    schema's order with the API's labels, choices as their words and a split's hive and
    queen by name (``labels``, as details_summary); then free-form keys in words. Never
    JSON."""
    if not isinstance(details, Mapping) or not details:
        return []
    labels = labels or {}
    fields = schema_fields(event_type)
    pairs = []
    for key, field in fields.items():
        if key not in details:
            continue
        value = details[key]
        if isinstance(field, serializers.ChoiceField):
            text = str(field.choices.get(value, value))
        elif (key, value) in labels:
            text = labels[(key, value)]
        elif key in ("new_hive", "new_queen") and value is not None:
            text = f"#{value}"
        else:
            text = _value_text(value)
        pairs.append((str(field.label or key.replace("_", " ").capitalize()), text))
    for key, value in details.items():
        if key not in fields:
            pairs.append((str(key).replace("_", " ").capitalize(), _value_text(value)))
    return pairs


def details_summary(
    event_type: str, details: Any, *, labels: Mapping[tuple[str, Any], str] | None = None
) -> str:
    """``details`` as short text for lists and exports: "queen seen, eggs, 6 frames brood,
    calm". ``labels`` names the objects a split refers to: ``{("new_hive", 12): "Hive B"}``
    (ids without a label are shown as "#12")."""
    if not isinstance(details, Mapping) or not details:
        return ""
    try:
        parts = _SUMMARIES.get(event_type, _free)(details, labels or {})
    except (TypeError, ValueError):  # a value of an unexpected type, stored long ago
        parts = _free(details, labels or {})
    return ", ".join(parts)
