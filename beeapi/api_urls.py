"""One place that includes every app's API routes (the URLconf beeapi/urls.py mounts at the root)."""

from django.urls import include, path

urlpatterns: list = [
    path("", include("accounts.api.urls")),
    # Telemetry routes (/hives/{id}/telemetry...) before the hive resources they extend.
    path("", include("monitoring.api.urls")),
    # Sensor adapters and /hives/{id}/device before the hive resources they extend.
    path("", include("sensors.api.urls")),
    path("", include("apiary.api.urls")),
    path("", include("alerts.api.urls")),
    # The live hive page (HTML) that charts the WebSocket stream.
    path("", include("console.live_urls")),
]
