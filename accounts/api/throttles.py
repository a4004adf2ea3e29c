from __future__ import annotations

import logging
from typing import Any

from django.core.cache import BaseCache, caches
from django.core.exceptions import ImproperlyConfigured
from redis.exceptions import RedisError
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import ScopedRateThrottle

logger = logging.getLogger(__name__)

# True while the throttle cache is unreachable, so the outage is logged once, not per request.
_cache_down = False


class AuthRateThrottle(ScopedRateThrottle):
    """Scoped throttle for login and registration (scope ``auth``).

    Attempts are counted in the ``throttle`` cache: Redis with REDIS_URL, so the limit
    holds across every server process; without it, per process. DRF counts in the
    ``default`` cache, which is always per process, and so would multiply the limit by
    the number of processes.

    An unreachable throttle cache lets the request through (logged once per outage):
    sign-in keeps working while Redis is down, and the lockout (django-axes, counted in
    the database) still bounds password guessing per account and address.

    DRF binds ``THROTTLE_RATES`` when its module is imported; reading the rate per request
    lets a changed setting (environment, tests) take effect.
    """

    scope_attr = "throttle_scope"

    # DRF declares ``cache`` a class attribute; nothing assigns it, so a read-only
    # property can stand in for it (mypy only sees the declared writeable attribute).
    @property
    def cache(self) -> BaseCache:  # type: ignore[override]
        # Looked up per request, not at import, so a changed CACHES (tests) takes effect.
        return caches["throttle"]

    def get_rate(self) -> str | None:
        # ScopedRateThrottle sets the scope before it asks for the rate (a view without
        # one is not throttled), unlike SimpleRateThrottle, whose __init__ asks.
        assert self.scope is not None
        try:
            # djangorestframework-stubs types the rates as numbers; DRF's are
            # "count/period" strings (or None), the type get_rate declares.
            return api_settings.DEFAULT_THROTTLE_RATES[self.scope]  # type: ignore[return-value]
        except KeyError as exc:
            raise ImproperlyConfigured(f"No throttle rate set for scope {self.scope!r}") from exc

    def allow_request(self, request: Request, view: Any) -> bool:
        global _cache_down
        try:
            allowed = super().allow_request(request, view)
        except (RedisError, OSError):
            if not _cache_down:
                _cache_down = True
                logger.warning(
                    "the throttle cache is unreachable: sign-in and registration are not "
                    "throttled until it is back (the sign-in lockout still counts)",
                    exc_info=True,
                )
            return True
        if _cache_down:
            _cache_down = False
            logger.warning("the throttle cache is back: sign-in and registration are throttled")
        return allowed
