"""One place that registers every API route (cookiecutter-django's api_router)."""

from django.urls import include, path

urlpatterns: list = [
    path("", include("accounts.api.urls")),
]
