"""Typed form fields for an event's ``details``, one section per type (the admin's
apiary.admin.forms.EventAdminForm).

The fields are made from the API's serializers (apiary.event_details): the same keys,
labels, choices and limits (as browser hints; the rules themselves run once, in the
service). The form builds ``details`` from the section of the chosen type, on top of the
"Other details" JSON (free-form types, and keys a split does not name), and the service
validates it as it validates the API's. A service error about one key comes back on that
key's field.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from django import forms
from django.core.exceptions import ValidationError
from rest_framework import serializers

from apiary.event_details import OPEN_SCHEMAS, SCHEMAS, schema_fields
from apiary.models import Event
from apiary.selectors import hive_list_visible, queen_list
from core.errors import DetailError
from core.form_fields import EMPTY_CHOICE, field_label, form_field

# {type: {key: form field name}}: "inspection" -> {"queen_seen": "inspection_queen_seen"}
DETAIL_FIELD_NAMES: dict[str, dict[str, str]] = {
    event_type: {key: f"{event_type}_{key}" for key in schema_fields(event_type)}
    for event_type in SCHEMAS
}
# Types whose details are (partly) free-form JSON: the "Other details" box.
FREE_FORM_TYPES = [t for t in Event.Type.values if t not in SCHEMAS or t in OPEN_SCHEMAS]
# Keys naming another object, offered as a choice among the user's own.
_CHOSEN = {("split", "new_hive"), ("split", "new_queen")}
_EMPTY = EMPTY_CHOICE


def _form_field(event_type: str, key: str, field: serializers.Field) -> forms.Field:
    if (event_type, key) in _CHOSEN:  # choices per user (EventDetailsForm.__init__)
        return forms.TypedChoiceField(
            choices=[_EMPTY],
            coerce=int,
            empty_value=None,
            required=False,
            label=field_label(key, field),
            help_text=field.help_text or "",
        )
    return form_field(key, field)


def _with_detail_fields(form: type) -> type:
    """``form`` with a declared field per typed key of every type."""
    fields = {
        name: _form_field(event_type, key, schema_fields(event_type)[key])
        for event_type, names in DETAIL_FIELD_NAMES.items()
        for key, name in names.items()
    }
    return type(form)(form.__name__, (form,), {"__module__": form.__module__, **fields})


def detail_fieldsets() -> list[tuple[str, dict[str, Any]]]:
    """Admin fieldsets: a section per type, classed ``event-details-<type>`` so that
    apiary/event_form.js shows the chosen type's only (without JavaScript all are shown,
    and the chosen type's is the one used)."""
    labels = dict(Event.Type.choices)
    sections = [
        (
            f"{labels[event_type]} details",
            {
                "fields": list(names.values()),
                "classes": ["event-details", f"event-details-{event_type}"],
                "description": f"Recorded when the type is {labels[event_type]}.",
            },
        )
        for event_type, names in DETAIL_FIELD_NAMES.items()
    ]
    other = {
        "fields": ["details"],
        "classes": ["event-details", *(f"event-details-{t}" for t in FREE_FORM_TYPES)],
        "description": "A JSON object, for the types without fields of their own and for "
        "a split's other keys.",
    }
    return [*sections, ("Other details", other)]


@_with_detail_fields
class EventDetailsForm(forms.Form):
    """Mixed into a ModelForm of Event (before it): typed detail fields, ``details`` built
    from them, and errors about a key shown on its field."""

    # The user the form is for (its split choices are their hives and queens); set per
    # request on the class the admin builds (EventAdmin.get_form).
    actor: Any = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        instance = getattr(self, "instance", None)
        split: dict[str, Any] = {}
        if instance is not None and instance.pk and isinstance(instance.details, dict):
            # A saved event: its details in its type's fields, the rest in the JSON box.
            stored: dict[str, Any] = instance.details
            names = DETAIL_FIELD_NAMES.get(instance.type, {})
            for key, name in names.items():
                if key in stored:
                    self.initial[name] = stored[key]
            self.initial["details"] = {k: v for k, v in stored.items() if k not in names}
            if instance.type == Event.Type.SPLIT:
                split = stored
        self._offer("split_new_hive", self._hive_choices(), split.get("new_hive"))
        self._offer("split_new_queen", self._queen_choices(), split.get("new_queen"))

    def _hive_choices(self) -> list[tuple[int, str]]:
        if self.actor is None:
            return []
        hives = hive_list_visible(user=self.actor).select_related("apiary")
        return [
            (hive.pk, f"{hive.name} ({hive.apiary.name})")
            for hive in hives.order_by("apiary__name", "name", "pk")
        ]

    def _queen_choices(self) -> list[tuple[int, str]]:
        if self.actor is None:
            return []
        queens = queen_list(user=self.actor).order_by("hive__name", "-introduced_at", "-pk")
        return [(queen.pk, f"{queen} (introduced {queen.introduced_at})") for queen in queens]

    def _offer(self, name: str, choices: list[tuple[int, str]], stored: Any) -> None:
        if name not in self.fields:
            return
        if isinstance(stored, int) and stored not in {pk for pk, _ in choices}:
            # An id recorded earlier that the user does not see (any more): kept as it is.
            choices = [*choices, (stored, f"#{stored} (not among yours)")]
        cast(forms.ChoiceField, self.fields[name]).choices = [_EMPTY, *choices]

    def clean(self) -> dict[str, Any]:
        # Form.clean and ModelForm.clean return cleaned_data (the stubs allow None).
        cleaned = cast("dict[str, Any]", super().clean())
        if "details" not in cleaned:
            return cleaned  # the JSON was not valid: its own error says so
        other = cleaned["details"]
        typed = {}
        for key, name in DETAIL_FIELD_NAMES.get(cleaned.get("type") or "", {}).items():
            value = cleaned.get(name)
            if value is not None and value != "":
                typed[key] = value.isoformat() if isinstance(value, dt.date) else value
        if other is None:
            other = {}
        # A field given wins over the same key in the JSON; anything but an object is left
        # for the service to refuse.
        cleaned["details"] = {**other, **typed} if isinstance(other, dict) else other
        return cleaned

    def add_error(self, field: str | None, error: Any) -> None:
        if field != "details":
            super().add_error(field, error)
            return
        cleaned = getattr(self, "cleaned_data", None) or {}
        names = DETAIL_FIELD_NAMES.get(cleaned.get("type") or "", {})
        rest = []
        for item in ValidationError(error).error_list:
            if isinstance(item, DetailError):
                name = names.get(item.key or "")
                if name in self.fields:
                    super().add_error(name, ValidationError(item.bare, code=item.code))
                    continue
            rest.append(item)
        if rest:
            super().add_error("details", rest)
