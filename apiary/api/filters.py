from __future__ import annotations

import django_filters

from apiary.models import Apiary, Event, Hive, QueenBee


class HiveFilter(django_filters.FilterSet):
    apiary = django_filters.NumberFilter(field_name="apiary_id")

    class Meta:
        model = Hive
        fields = ["apiary", "status", "hive_type", "device_id"]


class QueenFilter(django_filters.FilterSet):
    hive = django_filters.NumberFilter(field_name="hive_id")

    class Meta:
        model = QueenBee
        fields = ["hive", "is_current", "year_born", "marking_color", "removal_reason"]


class EventFilter(django_filters.FilterSet):
    hive = django_filters.NumberFilter(field_name="hive_id")
    apiary = django_filters.NumberFilter(
        method="filter_apiary", help_text="Events of the apiary and of its hives."
    )
    type = django_filters.MultipleChoiceFilter(choices=Event.Type.choices)
    occurred_after = django_filters.IsoDateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    occurred_before = django_filters.IsoDateTimeFilter(field_name="occurred_at", lookup_expr="lt")

    class Meta:
        model = Event
        fields = ["hive", "apiary", "type", "occurred_after", "occurred_before"]

    def filter_apiary(self, queryset, name, value):  # noqa: ANN001, ANN201
        from django.db.models import Q

        return queryset.filter(Q(apiary_id=value) | Q(hive__apiary_id=value))


class ApiaryFilter(django_filters.FilterSet):
    name = django_filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = Apiary
        fields = ["name"]
