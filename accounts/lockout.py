"""Lockout after failed sign-ins, with django-axes (the AXES_* settings name these hooks).

Both ways to sign in with a password are counted: the admin's login form and
``POST /auth/token`` (simplejwt calls ``authenticate()`` with the request). Attempts are
kept in the database, so every server process sees the same counts.

- One account from one address: locked after ``AXES_FAILURE_LIMIT`` failures, for
  ``AXES_COOLOFF_TIME`` after the last one. Nobody can lock an account from elsewhere.
- One address, any accounts (password spraying): locked for every account after
  ``AXES_IP_FAILURE_LIMIT`` failures, a higher limit so that a shared address (an office,
  a mobile network) is not locked by a few typos.

A locked-out attempt is refused before the password is checked, and answered 429: an
HTML page on the admin, JSON on the API, with ``Retry-After``.
"""

from __future__ import annotations

import math
from typing import Any

from axes.attempts import get_cool_off_threshold
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_cool_off, get_failure_limit
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib import admin
from django.db.models import Sum
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from rest_framework.request import Request

from accounts.models import normalize_email

LOCKED_OUT = "locked_out"
_USERNAME_MAX = 255  # axes' AccessAttempt.username


def lockout_username(request: HttpRequest, credentials: dict[str, Any] | None = None) -> str | None:
    """The account an attempt is for, as it is stored: the lowercased email.

    The admin's login form passes ``username`` to authenticate(), /auth/token passes
    ``email``; "Alice@Example.com" and "alice@example.com" count as one account.
    """
    values: Any = credentials or {}
    raw = values.get("email") or values.get("username")
    if raw is None and request is not None:
        data = getattr(request, "data", None) or request.POST
        raw = data.get("email") or data.get("username")
    if not isinstance(raw, str):
        return None
    return normalize_email(raw)[:_USERNAME_MAX] or None


class LockoutHandler(AxesDatabaseHandler):
    """axes' database handler, with a per-address limit and DRF requests handled."""

    def get_failures(self, request: Any, credentials: dict[str, Any] | None = None) -> int:
        failures = super().get_failures(request, credentials)
        limit = get_failure_limit(request, credentials)
        ceiling = getattr(settings, "AXES_IP_FAILURE_LIMIT", 0)
        if failures < limit and ceiling and self._address_failures(request) >= ceiling:
            # Too many failures from this address for any accounts: locked for all.
            return limit
        return failures

    def _address_failures(self, request: Any) -> int:
        if not request.axes_ip_address:
            return 0
        attempts = AccessAttempt.objects.filter(ip_address=request.axes_ip_address)
        if settings.AXES_COOLOFF_TIME is not None:
            attempts = attempts.filter(attempt_time__gte=get_cool_off_threshold(request))
        return attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0

    def user_login_failed(
        self, sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any
    ) -> None:
        super().user_login_failed(sender, credentials, request, **kwargs)
        # simplejwt authenticates with DRF's Request: axes marks that wrapper, while
        # AxesMiddleware looks at the Django request inside it. Pass the verdict on,
        # or a locked-out /auth/token attempt would be a plain 401.
        if isinstance(request, Request) and getattr(request, "axes_locked_out", False):
            # axes keeps its verdict in attributes of its own on the request object.
            django_request: Any = request._request
            django_request.axes_locked_out = True
            django_request.axes_credentials = getattr(request, "axes_credentials", credentials)


def _retry_after(request: HttpRequest) -> int | None:
    # Every attempt while locked out is counted and restarts the cool-off
    # (AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT), so it runs from this one.
    cool_off = get_cool_off(request)
    return int(cool_off.total_seconds()) if cool_off else None


def lockout_response(
    request: HttpRequest,
    original_response: HttpResponse | None = None,
    credentials: dict[str, Any] | None = None,
) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: 429, a page on the admin and JSON on the API."""
    retry_after = _retry_after(request)
    if retry_after:
        minutes = math.ceil(retry_after / 60)
        wait = f"Try again in {minutes} minute{'' if minutes == 1 else 's'}."
    else:
        wait = "Ask an administrator to unlock the account."
    detail = f"Too many failed sign-in attempts. {wait}"
    response: HttpResponse
    if request.path.startswith(reverse("admin:index")):
        context = {
            **admin.site.each_context(request),
            "title": "Signing in is paused",
            "wait": wait,
        }
        response = render(request, "accounts/lockout.html", context, status=429)
    else:
        body = {"detail": detail, "code": LOCKED_OUT, "retry_after": retry_after}
        response = JsonResponse(body, status=429)
    if retry_after:
        response["Retry-After"] = str(retry_after)
    return response
