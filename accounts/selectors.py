"""Reads of accounts shared by the API's authentication and anything else that needs them."""

from __future__ import annotations

from datetime import UTC, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from core.validators import time_zone_names


def user_cache_key(user_id: Any) -> str:
    """The entities-cache key of a user (core.entity_cache).

    Every API request with a bearer token needs its user, a query that would be a large
    share of a telemetry page's time. accounts.authentication caches it; accounts.signals
    forgets it on every save and delete (deactivation, a new password, a role change,
    deletion).
    """
    return f"user:{user_id}"


def user_zone_name(user: Any) -> str:
    """The IANA name of the zone a user reads times in: their chosen one, else "UTC"
    (anonymous users and a zone the system no longer knows included)."""
    name = getattr(user, "time_zone", "")
    return name if name in time_zone_names() else "UTC"


def user_zone(user: Any) -> tzinfo:
    """The zone a user reads times in: their chosen one, else UTC (as stored)."""
    name = user_zone_name(user)
    return UTC if name == "UTC" else ZoneInfo(name)
