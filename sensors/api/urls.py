"""Sensors routes: device-facing ingest (BEEP, ThingSpeak, TTN), integrations and a
hive's device. Each works with and without a trailing slash, except ThingSpeak's
``/update.json``, spelt as ThingSpeak spells it."""

from django.urls import re_path

from core.routers import OptionalSlashRouter
from sensors.api import views

router = OptionalSlashRouter()
router.include_root_view = False
router.register("integrations", views.IntegrationViewSet, basename="integration")

urlpatterns = [
    re_path(r"^api/sensors/?$", views.BeepSensorsView.as_view(), name="sensors-beep"),
    re_path(
        r"^update\.json$",
        views.ThingSpeakUpdateJsonView.as_view(),
        name="sensors-thingspeak-update-json",
    ),
    re_path(r"^update/?$", views.ThingSpeakUpdateView.as_view(), name="sensors-thingspeak-update"),
    re_path(
        r"^integrations/ttn/uplink/?$", views.TtnUplinkView.as_view(), name="sensors-ttn-uplink"
    ),
    re_path(r"^hives/(?P<pk>[0-9]+)/device/?$", views.HiveDeviceView.as_view(), name="hive-device"),
    *router.urls,
]
