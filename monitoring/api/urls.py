"""Telemetry routes; each works with and without a trailing slash."""

from django.urls import re_path

from monitoring.api import views

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
]
