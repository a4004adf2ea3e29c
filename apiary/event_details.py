"""Per-type validation of an event's ``details`` object.

Typed events accept only their documented keys, so a misspelt key is an error rather
than silently lost data. Free-form types accept any JSON object.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError
from rest_framework import serializers


class InspectionDetails(serializers.Serializer):
    frames_of_brood = serializers.IntegerField(min_value=0, max_value=40, required=False)
    frames_of_honey = serializers.IntegerField(min_value=0, max_value=40, required=False)
    temperament = serializers.ChoiceField(["calm", "nervous", "aggressive"], required=False)
    queen_seen = serializers.BooleanField(required=False)
    eggs_seen = serializers.BooleanField(required=False)
    queen_cells = serializers.IntegerField(min_value=0, max_value=100, required=False)
    varroa_count = serializers.IntegerField(min_value=0, required=False)


class FeedingDetails(serializers.Serializer):
    feed = serializers.ChoiceField(
        ["syrup_1_1", "syrup_2_1", "fondant", "pollen", "honey", "other"]
    )
    litres = serializers.FloatField(min_value=0.01, max_value=100, required=False)
    kg = serializers.FloatField(min_value=0.01, max_value=100, required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "litres" not in attrs and "kg" not in attrs:
            raise serializers.ValidationError({"litres": "Give the amount in litres or kg."})
        return attrs


class TreatmentDetails(serializers.Serializer):
    product = serializers.CharField(max_length=100)
    dose = serializers.CharField(max_length=100, required=False)
    method = serializers.CharField(max_length=100, required=False)


class HarvestDetails(serializers.Serializer):
    kg = serializers.FloatField(min_value=0.01, max_value=1000)
    frames = serializers.IntegerField(min_value=0, max_value=200, required=False)
    honey_type = serializers.CharField(max_length=100, required=False)


SCHEMAS: dict[str, type[serializers.Serializer]] = {
    "inspection": InspectionDetails,
    "feeding": FeedingDetails,
    "treatment": TreatmentDetails,
    "harvest": HarvestDetails,
}


def _flatten(errors: Any, prefix: str = "") -> list[str]:
    if isinstance(errors, dict):
        out: list[str] = []
        for key, value in errors.items():
            out += _flatten(value, f"{key}: " if key != "non_field_errors" else "")
        return out
    return [f"{prefix}{message}" for message in errors]


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


def details_validate(event_type: str, details: Any) -> dict[str, Any]:
    """The cleaned ``details`` for ``event_type``; ValidationError naming the key otherwise."""
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
    unknown = sorted(set(details) - set(schema().fields))
    if unknown:
        allowed = ", ".join(schema().fields)
        raise ValidationError(
            {
                "details": [
                    f"{key}: not a field of a {event_type} event (allowed: {allowed})."
                    for key in unknown
                ]
            }
        )
    serializer = schema(data=details)
    if not serializer.is_valid():
        raise ValidationError({"details": _flatten(serializer.errors)})
    return dict(serializer.validated_data)
