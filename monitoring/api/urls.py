"""Telemetry routes; each works with and without a trailing slash."""

from django.urls import re_path

from monitoring.api import calibrations, views

urlpatterns = [
    re_path(r"^telemetry/?$", views.DeviceTelemetryView.as_view(), name="telemetry-ingest"),
    re_path(
        r"^hives/(?P<pk>[0-9]+)/telemetry/?$",
        views.HiveTelemetryView.as_view(),
        name="hive-telemetry",
    ),
    re_path(
        r"^hives/(?P<pk>[0-9]+)/telemetry/hourly/?$",
        views.HiveTelemetryHourlyView.as_view(),
        name="hive-telemetry-hourly",
    ),
    re_path(
        r"^hives/(?P<pk>[0-9]+)/telemetry/daily/?$",
        views.HiveTelemetryDailyView.as_view(),
        name="hive-telemetry-daily",
    ),
    re_path(
        r"^hives/(?P<pk>[0-9]+)/telemetry/latest/?$",
        views.HiveTelemetryLatestView.as_view(),
        name="hive-telemetry-latest",
    ),
    re_path(
        r"^hives/(?P<pk>[0-9]+)/telemetry/net-weight/?$",
        views.HiveNetWeightView.as_view(),
        name="hive-telemetry-net-weight",
    ),
    re_path(
        r"^hives/(?P<pk>[0-9]+)/calibrations/?$",
        calibrations.CalibrationListView.as_view(),
        name="hive-calibrations",
    ),
    re_path(
        r"^hives/(?P<pk>[0-9]+)/calibrations/(?P<calibration_id>[0-9]+)/?$",
        calibrations.CalibrationDetailView.as_view(),
        name="hive-calibration",
    ),
    re_path(
        r"^hives/(?P<pk>[0-9]+)/calibrations/tare/?$",
        calibrations.CalibrationTareView.as_view(),
        name="hive-calibrations-tare",
    ),
    re_path(
        r"^hives/(?P<pk>[0-9]+)/calibrations/calibrate/?$",
        calibrations.CalibrationCalibrateView.as_view(),
        name="hive-calibrations-calibrate",
    ),
    re_path(
        r"^hives/(?P<pk>[0-9]+)/calibrations/fit/?$",
        calibrations.CalibrationFitView.as_view(),
        name="hive-calibrations-fit",
    ),
]
