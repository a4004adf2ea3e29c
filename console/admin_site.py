"""The admin site of BeeAPI: Django's, with every object page checking permission first,
and the beekeeper's overview of their hives as its start page."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse


class PermissionFirstHistoryMixin:
    """Django's history page looks the object up before it checks permission: a beekeeper
    got 403 for a user id that exists and "does not exist" for one that does not, so the
    superuser-only consoles (users, groups, tokens, lockouts) told ids apart. Checked
    first, both answer 403."""

    def history_view(
        self, request: HttpRequest, object_id: str, extra_context: dict | None = None
    ) -> HttpResponse:
        if not self.has_view_or_change_permission(request):  # type: ignore[attr-defined]
            raise PermissionDenied
        return super().history_view(request, object_id, extra_context)  # type: ignore[misc]


class BeeAdminSite(admin.AdminSite):
    site_header = "BeeAPI"
    site_title = "BeeAPI"
    index_title = "Your apiaries"

    def index(self, request: HttpRequest, extra_context: dict | None = None) -> TemplateResponse:
        """The overview of every hive the user sees (console.admin_pages.overview) above
        Django's list of apps (templates/admin/index.html)."""
        from console.admin_pages import overview  # the apps are loaded by now

        context = {"overview": overview(user=request.user), **(extra_context or {})}
        return super().index(request, context)

    def get_urls(self) -> list:
        from django.urls import path

        from console.preferences import time_zone_view

        def time_zone(request: HttpRequest) -> HttpResponse:
            return time_zone_view(request, self)

        return [
            path("time-zone/", self.admin_view(time_zone), name="time_zone"),
            *super().get_urls(),
        ]

    def register(self, model_or_iterable: Any, admin_class: Any = None, **options: Any) -> None:
        admin_class = admin_class or admin.ModelAdmin
        if not issubclass(admin_class, PermissionFirstHistoryMixin):
            admin_class = type(admin_class.__name__, (PermissionFirstHistoryMixin, admin_class), {})
        super().register(model_or_iterable, admin_class, **options)


class BeeAdminConfig(AdminConfig):
    default_site = "console.admin_site.BeeAdminSite"
