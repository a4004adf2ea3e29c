"""The beekeeper's console. Every beekeeper (staff, in the Beekeepers group) sees and
edits only their own apiaries, hives, queens and events; superusers see everything.

Writes go through apiary.services, so the API's rules hold here too: every admin here is
service-backed (core.admin): forms dry-run the service call their save makes, a refusal
at save time rolls the save back with the reason as a message, and deletes call the
delete services object by object.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar, cast

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.text import Truncator

from apiary import devices, selectors, services
from apiary.device_keys import device_key_notice
from apiary.event_csv import CSV_MAX_EVENTS, events_csv, split_labels
from apiary.event_details import details_summary
from apiary.event_forms import EventDetailsForm, detail_fieldsets
from apiary.models import Apiary, Event, Hive, QueenBee, Role
from core.admin import (
    ServiceAdminMixin,
    ServiceInlineMixin,
    ServiceModelForm,
    cleaned_fields,
    object_view_path,
)
from core.exceptions import UpstreamUnavailable

if TYPE_CHECKING:
    from typing import TypedDict

    from django_stubs_ext import WithAnnotations

    from apiary.selectors import ListedHive

    class _ApiaryAdminAnnotations(TypedDict):
        hive_total: int  # ApiaryAdmin.scope
        role: str  # apiary_list: the user's role on an apiary they see

    AdminApiary = WithAnnotations[Apiary, _ApiaryAdminAnnotations]


def _show_device_key(request: HttpRequest, hive: Hive, key: str, *, replaced: bool = False) -> None:
    """Show a hive's device key, once: only its hash is stored."""
    what = "New device key" if replaced else "Device key"
    gone = " The old key no longer works." if replaced else ""
    messages.warning(
        request,
        f"{what} for {hive.device_id}: {key} — copy it into the gateway now, it is not shown "
        f"again.{gone}",
    )


def _hive_saved(request: HttpRequest, result: Hive | tuple[Hive, str | None]) -> Hive:
    if isinstance(result, tuple):  # hive_create: (hive, key)
        hive, key = result
        if key is None:  # an editor: device keys are the owner's
            messages.info(
                request,
                f"Hive {hive.device_id} added. Its device key is shown only to the apiary's "
                "owner, who can replace it to get one for the gateway.",
            )
        else:
            _show_device_key(request, hive, key)
        return hive
    return result


# --- Scoping ----------------------------------------------------------------------------


def _editable_hives(*, user: Any) -> QuerySet:
    return selectors.hive_list_visible(user=user).filter(
        apiary__in=selectors.apiary_list_editable(user=user)
    )


def apiary_role_allows(request: HttpRequest, apiary: Apiary | None, needed: str) -> bool:
    """Whether the signed-in user's role in ``apiary`` is ``needed`` or above."""
    role = selectors.apiary_role(user=request.user, apiary=apiary) if apiary else None
    return selectors.role_allows(role, needed)


class VisibleAdminMixin:
    """Scope querysets and foreign-key choices to what the signed-in beekeeper may see:
    their own apiaries and those shared with them. What they may do with an object follows
    their role in its apiary, as in the services: a viewer gets read-only pages."""

    change_role: str = Role.EDITOR
    delete_role: str = Role.EDITOR

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        qs = super().get_queryset(request)  # type: ignore[misc]
        return self.scope(qs, request.user)

    def scope(self, qs: QuerySet, user: Any) -> QuerySet:
        return qs

    def apiary_of(self, obj: Any) -> Apiary | None:
        raise NotImplementedError

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        allowed = super().has_change_permission(request, obj)  # type: ignore[misc]
        return allowed and (
            obj is None or apiary_role_allows(request, self.apiary_of(obj), self.change_role)
        )

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        allowed = super().has_delete_permission(request, obj)  # type: ignore[misc]
        return allowed and (
            obj is None or apiary_role_allows(request, self.apiary_of(obj), self.delete_role)
        )

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        # Where something can be recorded (editor or owner); a mother may come from any
        # apiary the user sees.
        choices = {
            "apiary": selectors.apiary_list_editable,
            "hive": _editable_hives,
            "mother": selectors.queen_list,
        }
        if db_field.name in choices:
            kwargs["queryset"] = choices[db_field.name](user=request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)  # type: ignore[misc]


# --- Forms and inlines ------------------------------------------------------------------


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


class HiveInline(ServiceInlineMixin, admin.TabularInline):
    model = Hive
    fields = ["name", "device_id", "hive_type", "status", "installed_at"]
    show_change_link = True
    extra = 0

    def service_save(self, request: HttpRequest, obj: Hive, form: Any, change: bool) -> Any:
        fields = cleaned_fields(form, services.HIVE_FIELDS - {"apiary"})
        if change:
            return services.hive_update(hive=obj, actor=request.user, **fields)
        return services.hive_create(actor=request.user, apiary=obj.apiary, **fields)

    def service_saved(self, request: HttpRequest, result: Any) -> Hive:
        return _hive_saved(request, result)

    def service_delete(self, request: HttpRequest, obj: Hive) -> None:
        services.hive_delete(hive=obj, actor=request.user)

    # On an apiary shared with them, a viewer sees the hives; an editor adds and changes
    # them; only the owner deletes them (as in the services).
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_add_permission(request, obj) and apiary_role_allows(
            request, obj, Role.EDITOR
        )

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        allowed = super().has_change_permission(request, obj)
        return allowed and apiary_role_allows(request, obj, Role.EDITOR)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        allowed = super().has_delete_permission(request, obj)
        return allowed and apiary_role_allows(request, obj, Role.OWNER)


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
    fields: ClassVar[list[Any]] = ["occurred_at", "type", "notes", "details"]
    readonly_fields = fields
    show_change_link = True
    extra = 0
    can_delete = False
    verbose_name_plural = "recent events"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        since = timezone.now() - timedelta(days=90)
        return super().get_queryset(request).filter(occurred_at__gte=since).order_by("-occurred_at")


# --- Admins -----------------------------------------------------------------------------


@admin.register(Apiary)
class ApiaryAdmin(ServiceAdminMixin, VisibleAdminMixin, admin.ModelAdmin):
    list_display = ["name", "address", "hive_count", "owner", "your_role", "updated_at"]
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

    change_role = delete_role = Role.OWNER

    def apiary_of(self, obj: Apiary) -> Apiary:
        return obj

    def scope(self, qs: QuerySet, user: Any) -> QuerySet:
        return (
            selectors.apiary_list(user=user)
            .annotate(hive_total=Count("hives"))
            .order_by("name", "id")
        )

    def get_inlines(self, request: HttpRequest, obj: Any) -> list:
        # Hives are added inline once the apiary exists: each new row is dry-run through
        # hive_create, which needs a saved apiary to try it against.
        return self.inlines if obj is not None else []

    @admin.display(description="hives", ordering="hive_total")
    def hive_count(self, obj: AdminApiary) -> int:
        return obj.hive_total

    @admin.display(description="your role", ordering="role")
    def your_role(self, obj: AdminApiary) -> str:
        return obj.role

    def service_save(self, request: HttpRequest, obj: Apiary, form: Any, change: bool) -> Any:
        fields = cleaned_fields(form, services.APIARY_FIELDS)
        if change:
            return services.apiary_update(apiary=obj, actor=request.user, **fields)
        # request.user is a lazy proxy, and the database router refuses to relate a
        # proxy (it looks at type(obj)): the apiary's owner must be the user itself.
        # A signed-in user has a pk.
        owner = get_user_model()._default_manager.get(pk=cast(int, request.user.pk))
        return services.apiary_create(owner=owner, **fields)

    def service_delete(self, request: HttpRequest, obj: Apiary) -> None:
        services.apiary_delete(apiary=obj, actor=request.user)

    # Replacing every device key of the apiary (after a handover): a button on the
    # apiary's page (admin/apiary/apiary/change_form.html), a confirmation page whose
    # POST replaces them all and shows the new keys on the page it answers, once.

    def may_replace_device_keys(self, request: HttpRequest, apiary: Apiary) -> bool:
        return self.has_change_permission(request, apiary) and apiary_role_allows(
            request, apiary, Role.OWNER
        )

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        *args: Any,
        obj: Any = None,
        **kwargs: Any,
    ) -> HttpResponse:
        may = obj is not None and obj.pk is not None and self.may_replace_device_keys(request, obj)
        context["may_replace_device_keys"] = may
        # The owner's notice: hives whose keys a previous owner may still know.
        context["device_key_notices"] = (
            [
                (hive, device_key_notice(hive))
                for hive in selectors.hives_keyed_by_previous_owner(apiary=obj)
            ]
            if may
            else []
        )
        # mypy: *args might also fill obj; Django passes obj by keyword, so they never do.
        return super().render_change_form(request, context, *args, obj=obj, **kwargs)  # type: ignore[misc]

    def get_urls(self) -> list:
        return [
            object_view_path(
                self, "device-keys", self.device_keys_view, methods=["GET", "HEAD", "POST"]
            ),
            *super().get_urls(),
        ]

    def device_keys_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Replace every device key of an apiary: GET asks for confirmation, POST replaces
        them and answers the new keys, shown on this page only."""
        apiary = self.get_object(request, unquote(object_id))  # apiaries the user may see
        if apiary is None:
            raise Http404("No such apiary.")
        if not self.may_replace_device_keys(request, apiary):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "title": "Replace all device keys",
            "subtitle": str(apiary),
            "opts": self.opts,
            "original": apiary,
            "hives": apiary.hives.order_by("name", "id"),
        }
        if request.method == "POST":
            try:
                replaced = devices.apiary_rotate_device_keys(apiary=apiary, actor=request.user)
            except UpstreamUnavailable as exc:
                messages.error(request, str(exc.detail))
                return HttpResponseRedirect(request.get_full_path())
            self.log_change(request, apiary, f"Replaced the device keys of {len(replaced)} hives.")
            context.update(done=True, replaced=replaced)
        return TemplateResponse(request, "admin/apiary/apiary/device_keys.html", context)


@admin.register(Hive)
class HiveAdmin(ServiceAdminMixin, VisibleAdminMixin, admin.ModelAdmin):
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
    actions = ["replace_device_key"]
    # The change page (admin/apiary/hive/change_form.html) links to device_key_view.

    delete_role = Role.OWNER  # deleting a hive touches its telemetry and device id

    def apiary_of(self, obj: Hive) -> Apiary:
        return obj.apiary

    def scope(self, qs: QuerySet, user: Any) -> QuerySet:
        return selectors.hive_list(user=user)

    def get_list_filter(self, request: HttpRequest) -> list:
        return (
            self.list_filter
            if request.user.is_superuser
            else ["status", "hive_type", OwnApiaryFilter]
        )

    @admin.display(description="current queen")
    def current_queen(self, obj: ListedHive) -> str:
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

    def service_save(self, request: HttpRequest, obj: Hive, form: Any, change: bool) -> Any:
        fields = cleaned_fields(form, services.HIVE_FIELDS)
        if change:
            return services.hive_update(hive=obj, actor=request.user, **fields)
        return services.hive_create(actor=request.user, **fields)

    def service_saved(self, request: HttpRequest, result: Any) -> Hive:
        return _hive_saved(request, result)

    def service_delete(self, request: HttpRequest, obj: Hive) -> None:
        # The admin keeps the service's default: the hive's readings stay.
        services.hive_delete(hive=obj, actor=request.user)

    # Replacing device keys: a list action, and a confirmation page from the hive's page.

    def may_replace_device_key(self, request: HttpRequest, hive: Hive) -> bool:
        # Device keys are the owner's (as in hive_rotate_device_key), not an editor's.
        return self.has_change_permission(request, hive) and apiary_role_allows(
            request, hive.apiary, Role.OWNER
        )

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        *args: Any,
        obj: Any = None,
        **kwargs: Any,
    ) -> HttpResponse:
        context["may_replace_device_key"] = obj is not None and self.may_replace_device_key(
            request, obj
        )
        # To the owner only: a key a previous owner may still know.
        context["device_key_notice"] = (
            device_key_notice(obj) if context["may_replace_device_key"] else None
        )
        context.update(self.page_context(request, obj))
        # mypy: *args might also fill obj; Django passes obj by keyword, so they never do.
        return super().render_change_form(request, context, *args, obj=obj, **kwargs)  # type: ignore[misc]

    def page_context(self, request: HttpRequest, hive: Hive | None) -> dict[str, Any]:
        """What the console adds to a hive's page (console.admin: panels, inspection)."""
        return {}

    def page_urls(self) -> list:
        """The console's views under a hive's page (console.admin: inspection buttons)."""
        return []

    def _replace_device_key(self, request: HttpRequest, hive: Hive) -> str:
        key = devices.hive_rotate_device_key(hive=hive, actor=request.user)
        self.log_change(request, hive, "Replaced the device key.")
        return key

    @admin.action(description="Replace device key", permissions=["change"])
    def replace_device_key(self, request: HttpRequest, queryset: QuerySet) -> None:
        # All or nothing, and the keys are shown only once every hive has its new one.
        with transaction.atomic():
            replaced = [(hive, self._replace_device_key(request, hive)) for hive in queryset]
        for hive, key in replaced:
            _show_device_key(request, hive, key, replaced=True)

    def get_urls(self) -> list:
        return [
            object_view_path(
                self, "device-key", self.device_key_view, methods=["GET", "HEAD", "POST"]
            ),
            *self.page_urls(),
            *super().get_urls(),
        ]

    def device_key_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Replace one hive's device key: GET asks for confirmation, POST replaces it."""
        hive = self.get_object(request, unquote(object_id))  # hives the user may see
        if hive is None:
            raise Http404("No such hive.")
        if not self.may_replace_device_key(request, hive):
            raise PermissionDenied
        if request.method == "POST":
            try:
                with transaction.atomic():
                    key = self._replace_device_key(request, hive)
            except UpstreamUnavailable as exc:  # nothing replaced: the old key still works
                messages.error(request, str(exc.detail))
                return HttpResponseRedirect(request.get_full_path())
            _show_device_key(request, hive, key, replaced=True)
            return HttpResponseRedirect(
                reverse(
                    f"admin:{self.opts.app_label}_{self.opts.model_name}_change",
                    args=[hive.pk],
                    current_app=self.admin_site.name,
                )
            )
        context = {
            **self.admin_site.each_context(request),
            "title": "Replace device key",
            "subtitle": str(hive),
            "opts": self.opts,
            "original": hive,
        }
        return TemplateResponse(request, "admin/apiary/hive/device_key_confirm.html", context)


class OwnApiaryFilter(admin.SimpleListFilter):
    title = "apiary"
    parameter_name = "apiary__id__exact"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[Any, str]]:
        return [(a.pk, a.name) for a in selectors.apiary_list(user=request.user)]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(apiary_id=self.value()) if self.value() else queryset


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


@admin.register(Event)
class EventAdmin(ServiceAdminMixin, VisibleAdminMixin, admin.ModelAdmin):
    """Events with typed details: the page has a section of fields per type, and
    apiary/event_form.js shows the chosen type's (``add/?type=inspection`` chooses one;
    the list links to those). The list shows the details as short text, and exports
    the selected events as the API's CSV."""

    form = EventAdminForm
    list_display = ["occurred_at", "type", "hive", "apiary", "summary", "notes"]
    list_select_related = ["hive", "apiary"]
    list_filter = ["type", "occurred_at"]
    search_fields = ["notes", "hive__name", "apiary__name"]
    date_hierarchy = "occurred_at"
    _MAIN_FIELDS = ["hive", "apiary", "type", "occurred_at", "notes"]
    fieldsets: ClassVar[list[Any]] = [(None, {"fields": _MAIN_FIELDS}), *detail_fieldsets()]
    readonly_fields = ["summary"]
    actions = ["export_csv"]
    # Lists the typed types to record (admin/apiary/event/change_list.html).
    RECORD_TYPES = ["inspection", "feeding", "treatment", "harvest", "split"]

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
            # Read-only (a viewer): the details as text and as stored.
            return [(None, {"fields": [*self._MAIN_FIELDS, "summary", "details"]})]
        return super().get_fieldsets(request, obj)

    @admin.display(description="details")
    def summary(self, obj: Event) -> str | None:
        text = details_summary(obj.type, obj.details, labels=getattr(obj, "split_labels", None))
        return Truncator(text).chars(120) if text else None

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
