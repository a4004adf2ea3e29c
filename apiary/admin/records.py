"""The records' pages: queens and events."""

from __future__ import annotations

from typing import Any, ClassVar, cast

from django.contrib import admin, messages
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.text import Truncator

from apiary import selectors, services
from apiary.admin.forms import EventAdminForm, QueenAdminForm
from apiary.admin.scoping import VisibleAdminMixin, editable_hives
from apiary.event_csv import CSV_MAX_EVENTS, events_csv, split_labels
from apiary.event_details import details_fields, details_summary
from apiary.event_forms import detail_fieldsets
from apiary.models import Apiary, Event, Hive, QueenBee
from core.admin import ServiceAdminMixin, cleaned_fields, labelled_html


@admin.register(QueenBee)
class QueenBeeAdmin(ServiceAdminMixin, VisibleAdminMixin, admin.ModelAdmin):
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
    raw_id_fields: ClassVar[list[str]] = []
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

    def apiary_of(self, obj: QueenBee) -> Apiary:
        return obj.hive.apiary

    def has_add_permission(self, request: HttpRequest) -> bool:
        # A queen goes into a hive: an apiary to record in is not enough without one.
        return super().has_add_permission(request) and editable_hives(user=request.user).exists()

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        # Introduced today, unless the link says otherwise (?hive=3 keeps its hive).
        return {
            "introduced_at": timezone.localdate(),
            **super().get_changeform_initial_data(request),
        }

    def scope(self, qs: QuerySet, user: Any) -> QuerySet:
        return selectors.queen_list(user=user)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None:
            return ["is_current", "removed_at"]
        # Shown, not offered, what queen_update cannot change: the hive and the date of
        # introduction are history (move queens by introducing a new one), and so is a
        # retired queen's removal. A current queen is retired by giving removed_at.
        history = ["hive", "introduced_at", "is_current"]
        return history if obj.is_current else [*history, "removed_at", "removal_reason"]

    def service_save(self, request: HttpRequest, obj: QueenBee, form: Any, change: bool) -> Any:
        data = form.cleaned_data
        if not change:
            return services.queen_introduce(
                actor=request.user,
                hive=data["hive"],
                introduced_at=data.get("introduced_at"),
                year_born=data.get("year_born"),
                marking_color=data.get("marking_color") or "",
                origin=data.get("origin") or "",
                mother=data.get("mother"),
                notes=data.get("notes") or "",
                removal_reason=data.get("removal_reason") or QueenBee.RemovalReason.REPLACED,
            )
        queen = services.queen_update(
            queen=obj, actor=request.user, **cleaned_fields(form, services.QUEEN_FIELDS)
        )
        if queen.is_current and data.get("removed_at"):
            queen = services.queen_retire(
                queen=queen,
                actor=request.user,
                removed_at=data["removed_at"],
                removal_reason=data.get("removal_reason") or QueenBee.RemovalReason.OTHER,
            )
        return queen

    def service_delete(self, request: HttpRequest, obj: QueenBee) -> None:
        services.queen_delete(queen=obj, actor=request.user)


class EventApiaryFilter(admin.SimpleListFilter):
    """Events of one of the user's apiaries: its own and its hives' (apiary_list: their
    own and shared apiaries, nobody else's)."""

    title = "apiary"
    parameter_name = "in_apiary"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[Any, str]]:
        apiaries = selectors.apiary_list(user=request.user).order_by("name", "id")
        return [(str(a.pk), a.name) for a in apiaries]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        chosen = self.value()
        if chosen not in {value for value, _ in self.lookup_choices}:
            return queryset  # nothing chosen, or not one of the user's: no filter
        return queryset.filter(Q(apiary_id=chosen) | Q(hive__apiary_id=chosen))


class EventHiveFilter(admin.SimpleListFilter):
    """Events of one of the hives the user sees (hive_list_visible), named with their
    apiary: two apiaries may each have a "Hive 1"."""

    title = "hive"
    parameter_name = "hive__id__exact"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[Any, str]]:
        hives = (
            selectors.hive_list_visible(user=request.user)
            .select_related("apiary")
            .order_by("apiary__name", "name", "id")
        )
        return [(str(h.pk), f"{h.name} ({h.apiary.name})") for h in hives]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        chosen = self.value()
        if chosen not in {value for value, _ in self.lookup_choices}:
            return queryset
        return queryset.filter(hive_id=chosen)


@admin.register(Event)
class EventAdmin(ServiceAdminMixin, VisibleAdminMixin, admin.ModelAdmin):
    """Events with typed details: the page has a section of fields per type, and
    apiary/event_form.js shows the chosen type's (``add/?type=inspection`` chooses one;
    the list links to those). The list shows the details as short text, and exports
    the selected events as the API's CSV."""

    form = EventAdminForm
    list_display = ["occurred_at", "type", "hive", "apiary_name", "summary", "notes_text"]
    list_select_related = ["hive__apiary", "apiary"]
    list_filter: ClassVar[list[Any]] = [
        "type",
        EventApiaryFilter,
        EventHiveFilter,
        "occurred_at",
    ]
    search_fields = ["notes", "hive__name", "apiary__name", "hive__apiary__name"]
    date_hierarchy = "occurred_at"
    _MAIN_FIELDS = ["hive", "apiary", "type", "occurred_at", "notes"]
    fieldsets: ClassVar[list[Any]] = [(None, {"fields": _MAIN_FIELDS}), *detail_fieldsets()]
    readonly_fields = ["summary", "details_list"]
    actions = ["export_csv"]
    # Lists the typed types to record (admin/apiary/event/change_list.html).
    RECORD_TYPES = [
        "inspection",
        "feeding",
        "treatment",
        "harvest",
        "box_added",
        "box_removed",
        "split",
    ]

    # A note longer than this (a page of text) ends in "…" in the list.
    NOTES_SHOWN = 1000

    class Media:
        js = ["apiary/event_form.js"]

    def apiary_of(self, obj: Event) -> Apiary | None:
        # An event has a hive or an apiary, never both (event_belongs_to_hive_xor_apiary).
        return cast(Hive, obj.hive).apiary if obj.hive_id else obj.apiary

    def scope(self, qs: QuerySet, user: Any) -> QuerySet:
        return selectors.event_list(user=user)

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any):
        form_class = super().get_form(request, obj, change=change, **kwargs)
        form_class.actor = request.user  # a split offers the user's hives and queens
        return form_class

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> list[Any] | tuple[Any, ...]:
        if obj is not None and not self.has_change_permission(request, obj):
            # Read-only (a viewer): the details as labelled fields.
            return [(None, {"fields": [*self._MAIN_FIELDS, "details_list"]})]
        return super().get_fieldsets(request, obj)

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        # Happened now, unless the link says otherwise (?type=inspection&hive=3 keep theirs).
        now = timezone.localtime().replace(second=0, microsecond=0)
        return {"occurred_at": now, **super().get_changeform_initial_data(request)}

    @admin.display(description="apiary")
    def apiary_name(self, obj: Event) -> str | None:
        """The apiary of the event: its own, or its hive's (an event has one or the
        other), so that a hive's event does not show "-"."""
        apiary = obj.hive.apiary if obj.hive is not None else obj.apiary
        return apiary.name if apiary is not None else None

    @admin.display(description="notes")
    def notes_text(self, obj: Event) -> str | None:
        """The whole note, its line breaks kept (the list wraps it, see
        admin/apiary/event/change_list.html); at most NOTES_SHOWN characters, the rest on
        the event's page."""
        if not obj.notes:
            return None
        text = Truncator(obj.notes).chars(self.NOTES_SHOWN)
        return format_html('<span class="event-notes">{}</span>', text)

    @admin.display(description="details")
    def summary(self, obj: Event) -> str | None:
        text = details_summary(obj.type, obj.details, labels=getattr(obj, "split_labels", None))
        return Truncator(text).chars(120) if text else None

    @admin.display(description="details")
    def details_list(self, obj: Event) -> SafeString | None:
        labels = getattr(obj, "split_labels", None)
        return labelled_html(details_fields(obj.type, obj.details, labels=labels))

    def get_changelist_instance(self, request: HttpRequest) -> Any:
        changelist = super().get_changelist_instance(request)
        # A split's hive and queen by name (those the user sees), in two queries a page.
        events = list(changelist.result_list)
        labels = split_labels(user=request.user, events=events)
        for event in events:
            event.split_labels = labels
        return changelist

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        types = dict(Event.Type.choices)
        extra_context = {
            **(extra_context or {}),
            "record_types": [(value, types[value]) for value in self.RECORD_TYPES],
        }
        return super().changelist_view(request, extra_context)

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        *args: Any,
        obj: Any = None,
        **kwargs: Any,
    ) -> HttpResponse:
        if obj is not None:
            obj.split_labels = split_labels(user=request.user, events=[obj])
        # mypy: *args might also fill obj; Django passes obj by keyword, so they never do.
        return super().render_change_form(request, context, *args, obj=obj, **kwargs)  # type: ignore[misc]

    def response_add(self, request: HttpRequest, obj: Event, *args: Any, **kwargs: Any) -> Any:
        response = super().response_add(request, obj, *args, **kwargs)
        if "_addanother" in request.POST and isinstance(response, HttpResponseRedirect):
            # "Save and add another": the next record of the same type (one of the choices).
            location = response["Location"]
            response["Location"] = f"{location}{'&' if '?' in location else '?'}type={obj.type}"
        return response

    @admin.action(description="Export selected events to CSV", permissions=["view"])
    def export_csv(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        # The queryset is the user's own (get_queryset): the same rows as GET /events.
        # Ids of events that are not (ids of another beekeeper's, or deleted) drop out.
        events = list(queryset.select_related("hive__apiary", "apiary")[: CSV_MAX_EVENTS + 1])
        if not events:
            self.message_user(request, "No events to export.", messages.WARNING)
            return None
        if len(events) > CSV_MAX_EVENTS:
            self.message_user(
                request,
                f"More than {CSV_MAX_EVENTS} events selected, the most a CSV holds: export a "
                "shorter period at a time (filter by date).",
                messages.ERROR,
            )
            return None
        response = HttpResponse(
            events_csv(user=request.user, events=events), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = 'attachment; filename="events.csv"'
        return response

    def service_save(self, request: HttpRequest, obj: Event, form: Any, change: bool) -> Any:
        data = {name: form.cleaned_data.get(name) for name in services.EVENT_FIELDS}
        if change:
            return services.event_update(event=obj, actor=request.user, **data)
        return services.event_create(actor=request.user, **data)

    def service_delete(self, request: HttpRequest, obj: Event) -> None:
        services.event_delete(event=obj, actor=request.user)
