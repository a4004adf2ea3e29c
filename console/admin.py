"""The hive's page in the console: the panels above its form (latest readings, charts,
queen lineage, recent events) and the "Start / Stop inspection" buttons, which POST to
views here; alerts.services decides (editor role or above) and says why not.

The apiary app's HiveAdmin knows nothing of telemetry or alerts; this subclass, registered
in its place, adds them through its page_context() and page_urls() hooks.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from accounts.selectors import user_zone_name
from alerts.selectors import inspection_open
from alerts.services import inspection_start, inspection_stop
from apiary.admin.apiaries import ApiaryAdmin
from apiary.admin.hives import HiveAdmin
from apiary.admin.scoping import apiary_role_allows
from apiary.models import Apiary, Hive, Role
from console.admin_pages import hive_page, season_page
from console.sensor_panel import sensor_panel
from core.admin import object_view_path, service_error_messages
from sensors.selectors import sensor_link_get
from sensors.services import sensor_link_update
from telemetry.models import Calibration
from telemetry.services import calibration_span, calibration_tare


class ConsoleHiveAdmin(HiveAdmin):
    def page_context(self, request: HttpRequest, hive: Hive | None) -> dict[str, Any]:
        context = self.inspection_context(request, hive)
        if hive is not None and hive.pk is not None:
            # Telemetry, queen lineage and recent events above the form (panels.html),
            # then "Connect a sensor".
            context.update(hive_page(user=request.user, hive=hive))
            context.update(sensor_panel(hive=hive, absolute_url=request.build_absolute_uri))
            context["may_edit_sensor"] = self.may_inspect(request, hive)  # the editor role
            context["extra_panels"] = ["console/sensor_panel.html", "console/scale_panel.html"]
            context.update(self.scale_context(request, hive))
        return context

    def scale_context(self, request: HttpRequest, hive: Hive) -> dict[str, Any]:
        """The "Scale" panel: the weight's calibrations, newest first, and for editors the
        tare and calibrate buttons."""

        def url(action: str) -> str:
            suffix = f"_{action}" if action else ""
            name = f"admin:{self.opts.app_label}_{self.opts.model_name}_scale{suffix}"
            return reverse(name, args=[hive.pk], current_app=self.admin_site.name)

        try:
            calibrations = list(
                Calibration.objects.filter(device_id=hive.device_id, metric="weight")[:5]
            )
        except DatabaseError:
            calibrations = []
        return {
            "scale_calibrations": calibrations,
            "may_calibrate": self.may_inspect(request, hive),
            "scale_url": url(""),
            "scale_tare_url": url("tare"),
            "scale_calibrate_url": url("calibrate"),
        }

    def scale_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The page that tares and calibrates the hive's scale (editors)."""
        hive = self._editable_hive(request, object_id)
        context = {
            **self.admin_site.each_context(request),
            "title": "Tare or calibrate the scale",
            "subtitle": str(hive),
            "opts": self.opts,
            "original": hive,
            **self.scale_context(request, hive),
        }
        return TemplateResponse(request, "console/scale.html", context)

    def scale_tare_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        def tare(hive: Hive) -> str:
            calibration_tare(device_id=hive.device_id)
            self.log_change(request, hive, "Tared the scale.")
            return f"The scale of {hive.name} is tared: it reads 0 kg from now on."

        return self._hive_action(request, object_id, tare)

    def scale_calibrate_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        def calibrate(hive: Hive) -> str:
            try:
                known = float(request.POST.get("known", ""))
            except ValueError:
                raise ValidationError({"known": ["Give the known mass in kg."]}) from None
            calibration_span(device_id=hive.device_id, known=known)
            self.log_change(request, hive, f"Calibrated the scale with {known} kg.")
            return f"The scale of {hive.name} is calibrated: it reads {known} kg now."

        return self._hive_action(request, object_id, calibrate)

    def page_urls(self) -> list:
        return [
            *self.inspection_urls(),
            object_view_path(self, "sensor", self.sensor_view, methods=["GET", "POST"]),
            object_view_path(self, "scale", self.scale_view, methods=["GET", "HEAD"]),
            object_view_path(self, "scale/tare", self.scale_tare_view, methods=["POST"]),
            object_view_path(self, "scale/calibrate", self.scale_calibrate_view, methods=["POST"]),
        ]

    def sensor_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The hive's sensor settings, linked from "Connect a sensor": GET shows the form,
        POST saves the field map (JSON; empty for the adapters' defaults) and the DevEUI
        with the same service as PATCH /hives/{id}/device. Editors."""
        if request.method == "GET":
            return self._sensor_form(request, object_id)

        def save(hive: Hive) -> str:
            raw = request.POST.get("field_map", "").strip()
            try:
                field_map = json.loads(raw) if raw else None
            except ValueError as exc:
                raise ValidationError({"field_map": [f"Not valid JSON: {exc}."]}) from None
            sensor_link_update(
                actor=request.user,
                hive=hive,
                field_map=field_map,
                dev_eui=request.POST.get("dev_eui", "").strip() or None,
            )
            self.log_change(request, hive, "Changed the sensor's field map or DevEUI.")
            return f"The sensor settings of {hive.name} are saved."

        return self._hive_action(request, object_id, save)

    def _sensor_form(self, request: HttpRequest, object_id: str) -> HttpResponse:
        hive = self._editable_hive(request, object_id)
        link = sensor_link_get(hive_id=hive.pk)
        context = {
            **self.admin_site.each_context(request),
            "title": "Sensor settings",
            "subtitle": str(hive),
            "opts": self.opts,
            "original": hive,
            "field_map_json": json.dumps(link.field_map, ensure_ascii=False)
            if link and link.field_map
            else "",
            "dev_eui": link.dev_eui if link else "",
        }
        return TemplateResponse(request, "console/sensor_settings.html", context)

    INSPECTION_MINUTES = 60

    def may_inspect(self, request: HttpRequest, hive: Hive) -> bool:
        return apiary_role_allows(request, hive.apiary, Role.EDITOR)

    def inspection_context(self, request: HttpRequest, hive: Hive | None) -> dict[str, Any]:
        if hive is None or hive.pk is None or not self.may_inspect(request, hive):
            return {"may_inspect": False}
        return {
            "may_inspect": True,
            "inspection_minutes": self.INSPECTION_MINUTES,
            "inspection_open": inspection_open(hive=hive, now=timezone.now()),
        }

    def inspection_urls(self) -> list:
        # A button's POST only.
        return [
            object_view_path(self, f"inspection/{action}", view, methods=["POST"])
            for action, view in (
                ("start", self.inspection_start_view),
                ("stop", self.inspection_stop_view),
            )
        ]

    def inspection_start_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        def start(hive: Hive) -> str:
            window = inspection_start(
                hive=hive, actor=request.user, minutes=self.INSPECTION_MINUTES
            )
            self.log_change(request, hive, "Started an inspection.")
            until = timezone.localtime(window.ends_at)
            return f"Inspection of {hive.name} open until {until:%H:%M}: weight alerts paused."

        return self._hive_action(request, object_id, start)

    def inspection_stop_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        def stop(hive: Hive) -> str:
            inspection_stop(hive=hive, actor=request.user)
            self.log_change(request, hive, "Stopped the inspection.")
            return f"Inspection of {hive.name} stopped."

        return self._hive_action(request, object_id, stop)

    def _editable_hive(self, request: HttpRequest, object_id: str) -> Hive:
        """The hive of an inspection button or the sensor settings: 404 for one the user
        may not see, 403 below the editor role."""
        hive = self.get_object(request, unquote(object_id))  # hives the user may see
        if hive is None:
            raise Http404("No such hive.")
        if not self.may_inspect(request, hive):
            raise PermissionDenied
        return hive

    def _hive_action(
        self, request: HttpRequest, object_id: str, action: Callable[[Hive], str]
    ) -> HttpResponse:
        hive = self._editable_hive(request, object_id)
        try:
            with transaction.atomic():
                done = action(hive)
        except ValidationError as exc:
            for message in service_error_messages(exc, Hive):
                messages.error(request, message)
        except PermissionDenied as exc:  # the role changed since the check above
            messages.error(request, str(exc) or "You may not do this.")
        else:
            messages.success(request, done)
        return HttpResponseRedirect(
            reverse(
                f"admin:{self.opts.app_label}_{self.opts.model_name}_change",
                args=[hive.pk],
                current_app=self.admin_site.name,
            )
        )


class ConsoleApiaryAdmin(ApiaryAdmin):
    """The apiary's page with a link to its season: the year's figures and a chart of
    each hive's net weight (console.admin_pages.season_page, as GET
    /apiaries/{id}/season answers them)."""

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        *args: Any,
        obj: Any = None,
        **kwargs: Any,
    ) -> HttpResponse:
        if obj is not None and obj.pk is not None:
            context["season_url"] = reverse(
                f"admin:{self.opts.app_label}_{self.opts.model_name}_season",
                args=[obj.pk],
                current_app=self.admin_site.name,
            )
        return super().render_change_form(request, context, *args, obj=obj, **kwargs)

    def get_urls(self) -> list:
        return [
            object_view_path(self, "season", self.season_view, methods=["GET", "HEAD"]),
            *super().get_urls(),
        ]

    def season_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        apiary = self.get_object(request, unquote(object_id))  # apiaries the user may see
        if apiary is None:
            raise Http404("No such apiary.")
        tz = user_zone_name(request.user)
        this_year = timezone.now().year
        try:
            year = int(request.GET.get("year") or this_year)
        except ValueError:
            year = this_year
        year = min(max(year, 2000), this_year)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Season {year}",
            "subtitle": str(apiary),
            "opts": self.opts,
            "original": apiary,
            "years": list(range(this_year, this_year - 5, -1)),
            **season_page(apiary=apiary, year=year, tz=tz),
        }
        return TemplateResponse(request, "console/season.html", context)


admin.site.unregister(Hive)
admin.site.register(Hive, ConsoleHiveAdmin)
admin.site.unregister(Apiary)
admin.site.register(Apiary, ConsoleApiaryAdmin)
