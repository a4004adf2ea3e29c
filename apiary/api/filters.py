from __future__ import annotations

import re

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from apiary.models import Apiary, Event, Hive, QueenBee, Role
from core.times import query_time
from core.validators import utc_datetime


class UtcIsoDateTimeField(django_filters.fields.IsoDateTimeField):
    """ISO 8601 converted to UTC; an offset PostgreSQL refuses or year 1 is a 400."""

    def to_python(self, value):  # noqa: ANN001, ANN201
        # A "+" in an unencoded offset (...T12:00:00+02:00) arrives as a space.
        if isinstance(value, str):
            value = query_time(value.strip())
        parsed = super().to_python(value)
        if parsed is None:
            return None
        try:
            return utc_datetime(parsed)
        except ValidationError as exc:
            raise forms.ValidationError(exc.messages) from None


class UtcIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField


class WholeNumberField(forms.IntegerField):
    """Digits only: Django's IntegerField also takes "1.0" and " 1e0"-like spellings."""

    def to_python(self, value):  # noqa: ANN001, ANN201
        if isinstance(value, str) and value and not re.fullmatch(r"-?[0-9]+", value):
            raise forms.ValidationError("Enter a whole number.", code="invalid")
        return super().to_python(value)


@extend_schema_field(OpenApiTypes.INT)
class IntegerFilter(django_filters.NumberFilter):
    """A whole number (django-filter's NumberFilter takes 0.5 and matches nothing)."""

    # The stubs pin field_class to the base filter's form field; django-filter builds
    # whichever class a subclass names (NumberFilter adds its max validator to it).
    field_class = WholeNumberField  # type: ignore[assignment]


class StrictBooleanField(forms.TypedChoiceField):
    """``true`` or ``false``; anything else is a 400 (django-filter ignores it silently)."""

    def __init__(self, **kwargs):  # noqa: ANN003, ANN204
        kwargs.pop("empty_value", None)
        super().__init__(
            choices=[("true", "true"), ("false", "false")],
            coerce=lambda value: value == "true",
            empty_value=None,
            **kwargs,
        )


class StrictBooleanFilter(django_filters.BooleanFilter):
    # A BooleanFilter still (the schema shows a boolean); the stubs pin field_class to
    # NullBooleanField, django-filter builds whichever class a subclass names.
    field_class = StrictBooleanField  # type: ignore[assignment]


class HiveFilter(django_filters.FilterSet):
    apiary = IntegerFilter(field_name="apiary_id")

    class Meta:
        model = Hive
        fields = ["apiary", "status", "hive_type", "device_id"]


class QueenFilter(django_filters.FilterSet):
    hive = IntegerFilter(field_name="hive_id")
    is_current = StrictBooleanFilter()
    year_born = IntegerFilter()

    class Meta:
        model = QueenBee
        fields = ["hive", "is_current", "year_born", "marking_color", "removal_reason"]


class EventFilter(django_filters.FilterSet):
    hive = IntegerFilter(field_name="hive_id")
    apiary = IntegerFilter(
        method="filter_apiary", help_text="Events of the apiary and of its hives."
    )
    type = django_filters.MultipleChoiceFilter(choices=Event.Type.choices)
    occurred_after = UtcIsoDateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    occurred_before = UtcIsoDateTimeFilter(field_name="occurred_at", lookup_expr="lt")

    class Meta:
        model = Event
        fields = ["hive", "apiary", "type", "occurred_after", "occurred_before"]

    def filter_apiary(self, queryset, name, value):  # noqa: ANN001, ANN201
        from django.db.models import Q

        return queryset.filter(Q(apiary_id=value) | Q(hive__apiary_id=value))


class ApiaryFilter(django_filters.FilterSet):
    name = django_filters.CharFilter(lookup_expr="icontains")
    role = django_filters.ChoiceFilter(
        choices=Role.choices, help_text="Only apiaries where you have this role."
    )

    class Meta:
        model = Apiary
        fields = ["name", "role"]
