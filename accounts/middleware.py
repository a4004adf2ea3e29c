"""Pages in the signed-in user's time zone, the API in UTC.

Every page Django renders (the console, the live page) shows times in the user's zone and
reads the times typed into its forms in it: 11:30 entered in Europe/Berlin in winter is
stored as 10:30Z. API views are left in UTC: DRF writes times in the active zone, and the
API answers ISO 8601 in UTC whoever asks.

A user who has chosen no zone gets their browser's, which the console's pages report in
the ``browser_tz`` cookie (templates/admin/base_site.html) until one is set.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from rest_framework.views import APIView

from accounts.selectors import user_zone
from accounts.services import user_time_zone_default

BROWSER_ZONE_COOKIE = "browser_tz"


def _is_api_view(view_func: Callable[..., Any]) -> bool:
    view_class = getattr(view_func, "view_class", None) or getattr(view_func, "cls", None)
    return isinstance(view_class, type) and issubclass(view_class, APIView)


class UserTimeZoneMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            return self.get_response(request)
        finally:
            # The zone is the request's (a thread serves many users' requests in turn).
            timezone.deactivate()

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., Any],
        view_args: Any,
        view_kwargs: Any,
    ) -> None:
        if _is_api_view(view_func):
            return
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return
        if not user.time_zone:
            browser_zone = unquote(request.COOKIES.get(BROWSER_ZONE_COOKIE, ""))
            user_time_zone_default(user=user, browser_zone=browser_zone)
        timezone.activate(user_zone(user))
