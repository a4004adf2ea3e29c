"""One place that registers every API route (cookiecutter-django's api_router)."""

from django.urls import include, path

urlpatterns: list = [
    path("", include("accounts.api.urls")),
    # Telemetry routes (/hives/{id}/telemetry...) before the hive resources they extend.
    path("", include("telemetry.api.urls")),
    path("", include("apiary.api.urls")),
    path("", include("alerts.api.urls")),
    # The live hive page (HTML) that charts the WebSocket stream.
    path("", include("telemetry.live_urls")),
]
