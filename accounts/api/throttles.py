from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured
from rest_framework.settings import api_settings
from rest_framework.throttling import ScopedRateThrottle


class AuthRateThrottle(ScopedRateThrottle):
    """Scoped throttle for login and registration (scope ``auth``).

    DRF binds ``THROTTLE_RATES`` when its module is imported; reading the rate per request
    lets a changed setting (environment, tests) take effect.
    """

    scope_attr = "throttle_scope"

    def get_rate(self) -> str | None:
        try:
            return api_settings.DEFAULT_THROTTLE_RATES[self.scope]
        except KeyError as exc:
            raise ImproperlyConfigured(f"No throttle rate set for scope {self.scope!r}") from exc
