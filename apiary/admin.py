"""The beekeeper's console. Every beekeeper (staff, in the Beekeepers group) sees and
edits only their own apiaries, hives, queens and events; superusers see everything.
Writes go through apiary.services, so the API's rules hold here too."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from apiary import selectors, services
from apiary.event_details import details_validate
from apiary.models import Apiary, Event, Hive, QueenBee


class OwnedAdminMixin:
    """Scope querysets and foreign-key choices to the signed-in beekeeper."""

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        qs = super().get_queryset(request)  # type: ignore[misc]
        return self.scope(qs, request.user)

    def scope(self, qs: QuerySet, user: Any) -> QuerySet:
        return qs

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        choices = {
            "apiary": selectors.apiary_list,
            "hive": selectors.hive_list_owned,
            "mother": selectors.queen_list,
        }
        if db_field.name in choices:
            kwargs["queryset"] = choices[db_field.name](user=request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)  # type: ignore[misc]


def _service_save(request: HttpRequest, call: Any) -> Any:
    """Run a service; its ValidationError becomes an admin error message, not a 500."""
    try:
        return call()
    except ValidationError as exc:
        for field, errors in getattr(exc, "message_dict", {"": exc.messages}).items():
            messages.error(request, f"{field}: {' '.join(errors)}" if field else " ".join(errors))
        raise


def _cleaned(form: Any, names: set[str]) -> dict[str, Any]:
    return {name: form.cleaned_data[name] for name in names if name in form.cleaned_data}


class QueenAdminForm(forms.ModelForm):
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

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        hive, introduced_at = cleaned.get("hive"), cleaned.get("introduced_at")
        if self.instance.pk is None and hive and introduced_at:
            current = hive.queens.filter(is_current=True).first()
            if current and introduced_at < current.introduced_at:
                self.add_error(
                    "introduced_at",
                    f"The current queen was introduced on {current.introduced_at}; a successor cannot come earlier.",
                )
        return cleaned


class EventAdminForm(forms.ModelForm):
    class Meta:
        model = Event
        fields = ["hive", "apiary", "type", "occurred_at", "notes", "details"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if cleaned.get("type"):
            try:
                cleaned["details"] = details_validate(cleaned["type"], cleaned.get("details"))
            except ValidationError as exc:
                self.add_error("details", exc.message_dict["details"])
        return cleaned


class HiveInline(admin.TabularInline):
    model = Hive
    fields = ["name", "device_id", "hive_type", "status", "installed_at"]
    show_change_link = True
    extra = 0


class QueenInline(admin.TabularInline):
    model = QueenBee
    fields = [
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
    fields = ["occurred_at", "type", "notes", "details"]
    readonly_fields = fields
    show_change_link = True
    extra = 0
    can_delete = False
    verbose_name_plural = "recent events"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        since = timezone.now() - timezone.timedelta(days=90)
        return super().get_queryset(request).filter(occurred_at__gte=since).order_by("-occurred_at")


@admin.register(Apiary)
class ApiaryAdmin(OwnedAdminMixin, admin.ModelAdmin):
    list_display = ["name", "address", "hive_count", "owner", "updated_at"]
    search_fields = ["name", "address", "notes"]
    list_filter = ["created_at"]
    inlines = [HiveInline]
    readonly_fields = ["owner", "created_at", "updated_at"]
    fields = [
        "name",
        "latitude",
        "longitude",
        "address",
        "notes",
        "owner",
        "created_at",
        "updated_at",
    ]

    def scope(self, qs: QuerySet, user: Any) -> QuerySet:
        return selectors.apiary_list(user=user).annotate(hive_total=Count("hives"))

    @admin.display(description="hives", ordering="hive_total")
    def hive_count(self, obj: Apiary) -> int:
        return obj.hive_total

    def save_model(self, request: HttpRequest, obj: Apiary, form: Any, change: bool) -> None:
        fields = _cleaned(form, services.APIARY_FIELDS)
        if change:
            _service_save(
                request, lambda: services.apiary_update(apiary=obj, actor=request.user, **fields)
            )
        else:
            created = _service_save(
                request, lambda: services.apiary_create(owner=request.user, **fields)
            )
            obj.pk = created.pk

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        for hive in formset.save(commit=False):
            data = {
                name: getattr(hive, name)
                for name in ("name", "device_id", "hive_type", "status", "installed_at")
            }
            if hive.pk:
                _service_save(
                    request,
                    lambda h=hive, d=data: services.hive_update(hive=h, actor=request.user, **d),
                )
            else:
                _service_save(
                    request,
                    lambda d=data: services.hive_create(
                        actor=request.user, apiary=form.instance, **d
                    ),
                )
        for hive in formset.deleted_objects:
            services.hive_delete(hive=hive, actor=request.user)

    def delete_model(self, request: HttpRequest, obj: Apiary) -> None:
        services.apiary_delete(apiary=obj, actor=request.user)


@admin.register(Hive)
class HiveAdmin(OwnedAdminMixin, admin.ModelAdmin):
    list_display = [
        "name",
        "apiary",
        "device_id",
        "status",
        "current_queen",
        "last_inspection",
        "live",
    ]
    list_select_related = ["apiary"]
    list_filter = ["status", "hive_type", "apiary"]
    search_fields = ["name", "device_id", "apiary__name"]
    inlines = [QueenInline, RecentEventInline]
    fields = ["apiary", "name", "device_id", "hive_type", "status", "installed_at", "notes"]

    def scope(self, qs: QuerySet, user: Any) -> QuerySet:
        return selectors.hive_list(user=user)

    def get_list_filter(self, request: HttpRequest) -> list:
        return (
            self.list_filter
            if request.user.is_superuser
            else ["status", "hive_type", OwnApiaryFilter]
        )

    @admin.display(description="current queen")
    def current_queen(self, obj: Hive) -> str:
        if not getattr(obj, "current_queen_id", None):
            return "—"
        return f"{obj.current_queen_year or '?'} {obj.current_queen_color or ''}".strip()

    @admin.display(description="last inspection", ordering="last_inspection_at")
    def last_inspection(self, obj: Hive) -> str:
        when = getattr(obj, "last_inspection_at", None)
        return f"{when:%Y-%m-%d}" if when else "—"

    @admin.display(description="live")
    def live(self, obj: Hive) -> str:
        return format_html('<a href="{}">live telemetry</a>', reverse("hive-live", args=[obj.pk]))

    def save_model(self, request: HttpRequest, obj: Hive, form: Any, change: bool) -> None:
        fields = _cleaned(form, services.HIVE_FIELDS)
        if change:
            _service_save(
                request, lambda: services.hive_update(hive=obj, actor=request.user, **fields)
            )
            return
        hive, key = _service_save(
            request, lambda: services.hive_create(actor=request.user, **fields)
        )
        obj.pk = hive.pk
        messages.warning(
            request,
            f"Device key for {hive.device_id}: {key} — copy it into the gateway now, it is not shown again.",
        )

    def delete_model(self, request: HttpRequest, obj: Hive) -> None:
        services.hive_delete(hive=obj, actor=request.user)


class OwnApiaryFilter(admin.SimpleListFilter):
    title = "apiary"
    parameter_name = "apiary__id__exact"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[int, str]]:
        return [(a.pk, a.name) for a in selectors.apiary_list(user=request.user)]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(apiary_id=self.value()) if self.value() else queryset


@admin.register(QueenBee)
class QueenBeeAdmin(OwnedAdminMixin, admin.ModelAdmin):
    form = QueenAdminForm
    list_display = [
        "__str__",
        "hive",
        "year_born",
        "marking_color",
        "origin",
        "introduced_at",
        "removed_at",
        "is_current",
    ]
    list_select_related = ["hive", "hive__apiary"]
    list_filter = ["is_current", "marking_color", "removal_reason", "year_born"]
    search_fields = ["origin", "notes", "hive__name", "hive__device_id"]
    raw_id_fields: list[str] = []
    fields = [
        "hive",
        "year_born",
        "marking_color",
        "origin",
        "mother",
        "introduced_at",
        "notes",
        "is_current",
        "removed_at",
        "removal_reason",
    ]
    readonly_fields = ["is_current"]

    def scope(self, qs: QuerySet, user: Any) -> QuerySet:
        return selectors.queen_list(user=user)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # The hive of a recorded queen is history; move queens by introducing a new one.
        return ["hive", "is_current"] if obj else ["is_current", "removed_at"]

    def save_model(self, request: HttpRequest, obj: QueenBee, form: Any, change: bool) -> None:
        data = form.cleaned_data
        if not change:
            queen = _service_save(
                request,
                lambda: services.queen_introduce(
                    actor=request.user,
                    hive=data["hive"],
                    introduced_at=data.get("introduced_at"),
                    year_born=data.get("year_born"),
                    marking_color=data.get("marking_color") or "",
                    origin=data.get("origin") or "",
                    mother=data.get("mother"),
                    notes=data.get("notes") or "",
                    removal_reason=data.get("removal_reason") or QueenBee.RemovalReason.REPLACED,
                ),
            )
            obj.pk = queen.pk
            return
        fields = _cleaned(form, services.QUEEN_FIELDS)
        _service_save(
            request, lambda: services.queen_update(queen=obj, actor=request.user, **fields)
        )
        if obj.is_current and data.get("removed_at"):
            _service_save(
                request,
                lambda: services.queen_retire(
                    queen=obj,
                    actor=request.user,
                    removed_at=data["removed_at"],
                    removal_reason=data.get("removal_reason") or QueenBee.RemovalReason.OTHER,
                ),
            )

    def delete_model(self, request: HttpRequest, obj: QueenBee) -> None:
        services.queen_delete(queen=obj, actor=request.user)


@admin.register(Event)
class EventAdmin(OwnedAdminMixin, admin.ModelAdmin):
    form = EventAdminForm
    list_display = ["occurred_at", "type", "hive", "apiary", "notes"]
    list_select_related = ["hive", "apiary"]
    list_filter = ["type", "occurred_at"]
    search_fields = ["notes", "hive__name", "apiary__name"]
    date_hierarchy = "occurred_at"
    fields = ["hive", "apiary", "type", "occurred_at", "notes", "details"]

    def scope(self, qs: QuerySet, user: Any) -> QuerySet:
        return selectors.event_list(user=user)

    def save_model(self, request: HttpRequest, obj: Event, form: Any, change: bool) -> None:
        data = {name: form.cleaned_data.get(name) for name in services.EVENT_FIELDS}
        if change:
            _service_save(
                request, lambda: services.event_update(event=obj, actor=request.user, **data)
            )
        else:
            event = _service_save(
                request, lambda: services.event_create(actor=request.user, **data)
            )
            obj.pk = event.pk

    def delete_model(self, request: HttpRequest, obj: Event) -> None:
        services.event_delete(event=obj, actor=request.user)
