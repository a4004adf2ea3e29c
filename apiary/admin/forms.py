"""The queen's and the event's forms, and the read-only inlines of a hive's page."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.safestring import SafeString

from apiary.event_details import details_fields
from apiary.event_forms import EventDetailsForm
from apiary.models import Event, Hive, QueenBee
from core.admin import ServiceModelForm, labelled_html


class HiveAdminForm(ServiceModelForm):
    """A hive: a new one may leave its device id empty, and hive_create generates one, as
    the API does. A saved hive's stays required: emptied, it is an error rather than a new
    id (its readings are filed under the old one)."""

    class Meta:
        model = Hive
        fields = ["apiary", "name", "device_id", "hive_type", "status", "installed_at", "notes"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields.get("device_id")
        if field is not None and self.instance.pk is None:
            field.required = False
            field.help_text = "The id the sensor sends. Leave it empty to get a generated one."


class QueenAdminForm(ServiceModelForm):
    class Meta:
        model = QueenBee
        fields = [
            "hive",
            "year_born",
            "marking_color",
            "origin",
            "mother",
            "introduced_at",
            "notes",
            "removed_at",
            "removal_reason",
        ]


class EventAdminForm(EventDetailsForm, ServiceModelForm):
    """An event with a section of typed fields per type (apiary.event_forms), from which
    ``details`` is built and saved through the event services like the API's."""

    class Meta:
        model = Event
        fields = ["hive", "apiary", "type", "occurred_at", "notes", "details"]
        labels = {"details": "Other details (JSON)"}


class QueenInline(admin.TabularInline):
    model = QueenBee
    fields: ClassVar[list[Any]] = [
        "year_born",
        "marking_color",
        "origin",
        "introduced_at",
        "removed_at",
        "removal_reason",
        "is_current",
    ]
    readonly_fields = fields
    ordering = ["-introduced_at"]
    show_change_link = True
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # introduce queens from the queen page: the service retires the old one


class RecentEventInline(admin.TabularInline):
    model = Event
    fk_name = "hive"
    fields: ClassVar[list[Any]] = ["occurred_at", "type", "notes", "details_list"]
    readonly_fields = fields
    show_change_link = True
    extra = 0
    can_delete = False
    verbose_name_plural = "recent events"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="details")
    def details_list(self, obj: Event) -> SafeString | None:
        """The details as labelled fields, not the stored JSON (a split's hive and queen
        by id: the inline has no user to name them for)."""
        return labelled_html(details_fields(obj.type, obj.details))

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        since = timezone.now() - timedelta(days=90)
        return super().get_queryset(request).filter(occurred_at__gte=since).order_by("-occurred_at")
