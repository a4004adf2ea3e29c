"""The apiary's pages: its hives inline, and replacing every device key of the apiary."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse

from apiary import devices, selectors, services
from apiary.admin.hives import HiveInline
from apiary.admin.scoping import VisibleAdminMixin, apiary_role_allows
from apiary.device_keys import device_key_notice
from apiary.models import Apiary, Role
from core.admin import ServiceAdminMixin, cleaned_fields, object_view_path
from core.exceptions import UpstreamUnavailable

if TYPE_CHECKING:
    from typing import TypedDict

    from django_stubs_ext import WithAnnotations

    class _ApiaryAdminAnnotations(TypedDict):
        hive_total: int  # ApiaryAdmin.scope
        role: str  # apiary_list: the user's role on an apiary they see

    AdminApiary = WithAnnotations[Apiary, _ApiaryAdminAnnotations]


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
    add_needs_editable_apiary = False  # anyone starts an apiary of their own

    def apiary_of(self, obj: Apiary) -> Apiary:
        return obj

    def scope(self, qs: QuerySet, user: Any) -> QuerySet:
        qs = selectors.apiary_list(user=user).annotate(hive_total=Count("hives"))
        if user.is_superuser:
            # apiary_list says "owner" for a superuser everywhere: show what they hold.
            qs = qs.annotate(held_role=selectors.role_annotation(user, superuser_as_owner=False))
        return qs.order_by("name", "id")

    def get_inlines(self, request: HttpRequest, obj: Any) -> list:
        # Hives are added inline once the apiary exists: each new row is dry-run through
        # hive_create, which needs a saved apiary to try it against.
        return self.inlines if obj is not None else []

    @admin.display(description="hives", ordering="hive_total")
    def hive_count(self, obj: AdminApiary) -> int:
        return obj.hive_total

    @admin.display(description="your role", ordering="role")
    def your_role(self, obj: AdminApiary) -> str:
        if "held_role" in vars(obj):  # a superuser's (scope)
            return vars(obj)["held_role"] or "none (superuser)"
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
