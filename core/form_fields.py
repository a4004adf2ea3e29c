"""Django form fields made from DRF serializer fields: the admin's typed forms for a JSON
object (an event's ``details``, a rule's ``params``) take their labels, choices and limits
from the API's serializers, so both show the same words and bounds. The limits become
browser hints only; the rules themselves run once, in the service the form's save calls.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.admin.widgets import AdminDateWidget
from django.core.exceptions import ImproperlyConfigured
from django.utils.text import capfirst
from rest_framework import serializers

EMPTY_CHOICE = ("", "---------")


def field_label(key: str, field: serializers.Field | None = None) -> str:
    """The serializer field's label, or the key in words: ``frames_of_brood`` ->
    "Frames of brood"."""
    label = getattr(field, "label", None)
    return str(label) if label else str(capfirst(key.replace("_", " ")))


def form_field(key: str, field: serializers.Field, **options: Any) -> forms.Field:
    """An optional form field for the serializer ``field`` of ``key`` (``options`` go to
    the form field: initial, help_text, ...)."""
    common: dict[str, Any] = {
        "required": False,
        "label": field_label(key, field),
        "help_text": field.help_text or "",
        **options,
    }
    limits = {
        attr: value
        for attr, value in (
            ("min", getattr(field, "min_value", None)),
            ("max", getattr(field, "max_value", None)),
            ("maxlength", getattr(field, "max_length", None)),
        )
        if value is not None
    }
    if isinstance(field, serializers.BooleanField):
        return forms.NullBooleanField(widget=forms.NullBooleanSelect, **common)
    if isinstance(field, serializers.IntegerField):
        return forms.IntegerField(widget=forms.NumberInput(attrs=limits), **common)
    if isinstance(field, serializers.FloatField):
        attrs = {**limits, "step": "any"}
        return forms.FloatField(widget=forms.NumberInput(attrs=attrs), **common)
    if isinstance(field, serializers.ChoiceField):
        return forms.ChoiceField(choices=[EMPTY_CHOICE, *field.choices.items()], **common)
    if isinstance(field, serializers.DateField):
        return forms.DateField(widget=AdminDateWidget, **common)
    if isinstance(field, serializers.CharField):
        return forms.CharField(widget=forms.TextInput(attrs=limits), **common)
    raise ImproperlyConfigured(f"No form field for {key} ({type(field).__name__}).")
