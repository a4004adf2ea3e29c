"""The admin's form of an alert rule: a form field per parameter of each kind, made from
the one description of the kinds (alerts.rules.SCHEMAS), instead of a JSON box.

Each kind's fields are a section of the page (``rule-params-<kind>``; alerts/rule_form.js
shows the chosen kind's, and a rule's page shows its own kind's only: kind is fixed). The
form builds ``params`` from the chosen kind's section and the services validate it as
they validate the API's; an error about one parameter comes back on its field.

Empty fields: a parameter that may be null (a threshold's ``above``, a weak-signal rule's
``rssi_below``) is null, "not watched"; any other is left out, so a new rule takes the
default and a changed one keeps its value. A new rule's fields start at the defaults.
"""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.core.exceptions import ValidationError
from rest_framework import serializers
from rest_framework.fields import empty

from alerts.models import AlertRule, Kind
from alerts.rules import SCHEMAS
from core.admin import ServiceModelForm
from core.errors import DetailError
from core.form_fields import field_label, form_field


def schema_fields(kind: str) -> dict[str, serializers.Field]:
    return dict(SCHEMAS[kind]().fields)


# {kind: {parameter: form field name}}: "swarm" -> {"drop_kg": "swarm_drop_kg"}
PARAM_FIELD_NAMES: dict[str, dict[str, str]] = {
    kind: {key: f"{kind}_{key}" for key in schema_fields(kind)} for kind in SCHEMAS
}


def _default(field: serializers.Field) -> Any:
    return None if field.default is empty else field.default


def _help(field: serializers.Field) -> str:
    text = str(field.help_text or "")
    if field.allow_null:
        return f"{text} Empty: not watched.".strip()
    default = _default(field)
    if default is not None:
        return f"{text} Default {default:g}.".strip()
    return text


def param_form_fields() -> dict[str, forms.Field]:
    return {
        name: form_field(key, field, help_text=_help(field))
        for kind, names in PARAM_FIELD_NAMES.items()
        for key, name in names.items()
        for field in [schema_fields(kind)[key]]
    }


def param_fieldsets(kinds: list[str] | None = None) -> list[tuple[str, dict[str, Any]]]:
    """Admin fieldsets, one per kind (all, or ``kinds``), classed for rule_form.js."""
    labels = dict(Kind.choices)
    return [
        (
            f"{labels[kind]}: parameters",
            {
                "fields": list(PARAM_FIELD_NAMES[kind].values()),
                "classes": ["rule-params", f"rule-params-{kind}"],
            },
        )
        for kind in kinds or list(PARAM_FIELD_NAMES)
    ]


def _ordered(kind: str, params: Any) -> list[tuple[str, Any, serializers.Field | None]]:
    """``params`` in the kind's order (jsonb keeps its own), unknown keys last."""
    if not isinstance(params, dict):
        return []
    fields = schema_fields(kind) if kind in SCHEMAS else {}
    keys = [key for key in fields if key in params] + [k for k in params if k not in fields]
    return [(key, params[key], fields.get(key)) for key in keys]


def params_text(kind: str, params: Any) -> str:
    """A rule's parameters in words for lists: "Drop kg 1.5, Window minutes 30"."""
    return ", ".join(
        f"{field_label(key, field)} {value:g}"
        if isinstance(value, float)
        else f"{field_label(key, field)} {value}"
        for key, value, field in _ordered(kind, params)
        if value is not None
    )


def params_pairs(kind: str, params: Any) -> list[tuple[str, str]]:
    """A rule's parameters as (label, text) pairs for a read-only page."""
    return [
        (field_label(key, field), "not watched" if value is None else f"{value}")
        for key, value, field in _ordered(kind, params)
    ]


def _with_param_fields(form: type) -> type:
    """``form`` with a declared field per parameter of every kind."""
    attrs = {"__module__": form.__module__, "__doc__": form.__doc__, **param_form_fields()}
    return type(form)(form.__name__, (form,), attrs)


@_with_param_fields
class AlertRuleAdminForm(ServiceModelForm):
    """A rule: kind, scope, on/off, and its kind's parameters as fields (``params`` is
    built from them in clean())."""

    class Meta:
        model = AlertRule
        fields = ["kind", "hive", "apiary", "enabled"]

    # The services' errors on "params" come to add_error, which spreads them (core.admin).
    spread_error_fields = ("params",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        rule = self.instance
        for kind, names in PARAM_FIELD_NAMES.items():
            fields = schema_fields(kind)
            for key, name in names.items():
                if rule.pk is not None:
                    if kind == rule.kind:
                        self.initial.setdefault(name, (rule.params or {}).get(key))
                else:
                    self.initial.setdefault(name, _default(fields[key]))

    def _kind(self) -> str:
        return cast(str, self.cleaned_data.get("kind") or self.instance.kind or "")

    def clean(self) -> dict[str, Any]:
        cleaned = cast("dict[str, Any]", super().clean())
        kind = self._kind()
        if kind not in SCHEMAS:
            return cleaned  # the kind's own error says so
        fields = schema_fields(kind)
        params: dict[str, Any] = {}
        for key, name in PARAM_FIELD_NAMES[kind].items():
            value = cleaned.get(name)
            if value is None or value == "":
                if fields[key].allow_null:
                    params[key] = None
                continue
            params[key] = value
        cleaned["params"] = params
        return cleaned

    def add_error(self, field: str | None, error: Any) -> None:
        # A service error about one parameter ("drop_kg: ...") goes on its field.
        if field != "params":
            super().add_error(field, error)
            return
        names = PARAM_FIELD_NAMES.get(self._kind(), {})
        rest = []
        for item in ValidationError(error).error_list:
            if isinstance(item, DetailError) and names.get(item.key or "") in self.fields:
                super().add_error(names[item.key or ""], ValidationError(item.bare, code=item.code))
            else:
                rest.append(item)
        if rest:
            super().add_error(None, rest)
