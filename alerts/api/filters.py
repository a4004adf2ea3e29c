from __future__ import annotations

import django_filters

from alerts.models import Alert, AlertRule, Kind, Status
from apiary.api.filters import IntegerFilter, StrictBooleanFilter


class AlertFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=Status.choices)
    hive = IntegerFilter(field_name="hive_id")
    kind = django_filters.ChoiceFilter(choices=Kind.choices)

    class Meta:
        model = Alert
        fields = ["status", "hive", "kind"]


class AlertRuleFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=Kind.choices)
    hive = IntegerFilter(field_name="hive_id")
    apiary = IntegerFilter(field_name="apiary_id")
    enabled = StrictBooleanFilter()

    class Meta:
        model = AlertRule
        fields = ["kind", "hive", "apiary", "enabled"]
