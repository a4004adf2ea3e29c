"""Sensor links and integrations in the admin, for superusers (beekeepers use the API and
the hive page's panel). Both are read-only here: a hive's field map and DevEUI change
through sensors.services (PATCH /hives/{id}/device), whose checks the admin would
otherwise skip. An integration's key hash is never shown; deleting an integration goes
through its service."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from sensors import services
from sensors.models import Integration, SensorLink


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(SensorLink)
class SensorLinkAdmin(_ReadOnly):
    list_display = ["hive", "dev_eui", "last_adapter", "last_seen_at", "last_error_at"]
    list_filter = ["last_adapter"]
    search_fields = ["hive__name", "hive__device_id", "dev_eui", "hive__apiary__owner__email"]
    list_select_related = ["hive"]
    fields = [
        "hive",
        "dev_eui",
        "field_map",
        "last_adapter",
        "last_seen_at",
        "last_payload",
        "last_mapped",
        "last_unmapped",
        "last_error",
        "last_error_at",
        "entry_count",
    ]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Integration)
class IntegrationAdmin(_ReadOnly):
    list_display = ["id", "name", "kind", "owner", "created_at", "last_used_at"]
    list_filter = ["kind"]
    search_fields = ["name", "owner__email"]
    list_select_related = ["owner"]
    fields = ["owner", "kind", "name", "created_at", "last_used_at"]  # never key_hash

    def delete_model(self, request: HttpRequest, obj: Integration) -> None:
        services.integration_delete(integration=obj)

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        for integration in queryset:
            services.integration_delete(integration=integration)
