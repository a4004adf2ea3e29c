"""The hive's pages, and the hives on an apiary's page (HiveInline): both save through the
hive services and show a new hive's device key the same way; replacing device keys, as a
list action and from a hive's page.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from apiary import devices, selectors, services
from apiary.admin.forms import HiveAdminForm, QueenInline, RecentEventInline
from apiary.admin.scoping import VisibleAdminMixin, apiary_role_allows
from apiary.device_keys import device_key_notice
from apiary.models import Apiary, Hive, Role
from core.admin import ServiceAdminMixin, ServiceInlineMixin, cleaned_fields, object_view_path
from core.exceptions import UpstreamUnavailable

if TYPE_CHECKING:
    from apiary.selectors import ListedHive


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


class HiveInline(ServiceInlineMixin, admin.TabularInline):
    model = Hive
    form = HiveAdminForm
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


@admin.register(Hive)
class HiveAdmin(ServiceAdminMixin, VisibleAdminMixin, admin.ModelAdmin):
    form = HiveAdminForm
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

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        # Installed today, unless the link says otherwise (?installed_at=...).
        return {
            "installed_at": timezone.localdate(),
            **super().get_changeform_initial_data(request),
        }

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
        return f"{timezone.localdate(when):%Y-%m-%d}" if when else "—"

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
        # Links to record a queen or an event of this hive (panels.html): editors only,
        # whose add pages can offer this hive.
        context["may_record"] = obj is not None and apiary_role_allows(
            request, obj.apiary, Role.EDITOR
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
