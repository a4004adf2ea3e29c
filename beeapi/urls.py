"""Every route of BeeAPI. API routes accept paths with and without a trailing slash."""

from django.contrib import admin
from django.urls import include, path

from beeapi.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerView,
    favicon,
    health,
    home,
)

urlpatterns = [
    path("", home, name="home"),
    path("favicon.ico", favicon, name="favicon"),
    path("health", health, name="health"),
    path("health/", health),
    path("admin/", admin.site.urls),
    path("schema", SpectacularAPIView.as_view(), name="schema"),
    path("schema/", SpectacularAPIView.as_view()),
    path("docs", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema")),
    path("redoc", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    path("", include("beeapi.api_urls")),
]

handler404 = "beeapi.views.not_found"
handler500 = "beeapi.views.server_error"
