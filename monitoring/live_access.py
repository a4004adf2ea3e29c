"""Whether open live sockets still have the right to their streams, checked against the
database (``WS /ws/hive/{id}/telemetry`` and ``WS /ws/alerts``).

A removal, a deleted or moved hive is announced to the sockets through the channel layer
(monitoring.live.access_revoked), but an announcement can be lost: Redis down at the
moment of the change. The live hub of each server process therefore asks here, for all
of its sockets at once, at least every ``LIVE_ACCESS_RECHECK_SECONDS`` and whenever the
channel layer comes back (monitoring.live_hub). The queries do not grow with the number of
sockets: one for the users, one for the sessions, one for the hives (a UNION of the
visibility selector, one branch per user, in statements of at most ``USERS_PER_QUERY``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from importlib import import_module
from typing import Any, NamedTuple

from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.db.models import IntegerField, Value
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from apiary.selectors import hive_list_visible

USERS_PER_QUERY = 200

# Why a socket lost its stream: its sign-in (4401) or its hive (4404).
LOST_SIGN_IN = "sign-in"
LOST_HIVE = "hive"


class AccessClaim(NamedTuple):
    """What a socket was granted at connect."""

    user_id: int
    # The session that authenticated it; None for a token (which expires on its own).
    session_key: str | None = None
    # The hive stream's hive, as it was at connect; None for the alert stream.
    hive_id: int | None = None
    apiary_id: int | None = None
    device_id: str | None = None


def _session_store() -> Any:
    return import_module(settings.SESSION_ENGINE).SessionStore


def _session_model() -> Any | None:
    """The model of a database-backed session engine (db, cached_db), else None."""
    store = _session_store()
    return store.get_model_class() if hasattr(store, "get_model_class") else None


def _sessions(keys: set[str]) -> dict[str, dict[str, Any]]:
    """The data of those of ``keys`` that exist and have not expired."""
    if not keys:
        return {}
    store = _session_store()
    model = _session_model()
    if model is None:  # cache or signed-cookie sessions: one load per key
        found = {key: store(session_key=key).load() for key in keys}
        return {key: data for key, data in found.items() if data}
    rows = model.objects.filter(session_key__in=keys, expire_date__gt=timezone.now())
    decode = store().decode
    return {key: decode(data) for key, data in rows.values_list("session_key", "session_data")}


def _session_is_the_users(data: dict[str, Any], user: Any) -> bool:
    """django.contrib.auth.get_user's check: the session names the user and carries the
    hash of their current password (a password change signs the user out elsewhere)."""
    if str(data.get(SESSION_KEY)) != str(user.pk):
        return False
    session_hash = data.get(HASH_SESSION_KEY)
    if not session_hash:
        return False
    if constant_time_compare(session_hash, user.get_session_auth_hash()):
        return True
    return any(
        constant_time_compare(session_hash, fallback)
        for fallback in user.get_session_auth_fallback_hash()
    )


def _visible_hives(
    users: dict[int, Any], claims: Sequence[AccessClaim]
) -> dict[tuple[int, int], tuple[int, str]]:
    """(user, hive) -> (apiary, device_id) for the claimed hives their users may see,
    by the visibility rule of every hive read (apiary.selectors.hive_list_visible)."""
    hives_of: dict[int, set[int]] = defaultdict(set)
    for claim in claims:
        if claim.hive_id is not None and claim.user_id in users:
            hives_of[claim.user_id].add(claim.hive_id)
    branches = [
        hive_list_visible(user=users[user_id])
        .filter(pk__in=hive_ids)
        .annotate(watcher=Value(user_id, output_field=IntegerField()))
        .values_list("pk", "apiary_id", "device_id", "watcher")
        .order_by()
        for user_id, hive_ids in hives_of.items()
    ]
    visible: dict[tuple[int, int], tuple[int, str]] = {}
    for start in range(0, len(branches), USERS_PER_QUERY):
        first, *rest = branches[start : start + USERS_PER_QUERY]
        rows = first.union(*rest, all=True) if rest else first
        for hive_id, apiary_id, device_id, watcher in rows:
            visible[(watcher, hive_id)] = (apiary_id, device_id)
    return visible


def access_verdicts(claims: Sequence[AccessClaim]) -> list[str | None]:
    """For each claim, None if the socket keeps its stream, else why it lost it:
    LOST_SIGN_IN (the user is gone or deactivated, the session expired, was deleted by
    a sign-out or no longer matches the user's password) or LOST_HIVE (the hive is
    gone, no longer visible to the user, or moved to another apiary or device id)."""
    user_ids = {claim.user_id for claim in claims}
    users = {
        user.pk: user for user in get_user_model().objects.filter(pk__in=user_ids, is_active=True)
    }
    sessions = _sessions({claim.session_key for claim in claims if claim.session_key})
    visible = _visible_hives(users, claims)
    verdicts: list[str | None] = []
    for claim in claims:
        user = users.get(claim.user_id)
        if user is None:
            verdicts.append(LOST_SIGN_IN)
        elif claim.session_key is not None and not _session_is_the_users(
            sessions.get(claim.session_key, {}), user
        ):
            verdicts.append(LOST_SIGN_IN)
        elif claim.hive_id is not None and visible.get((claim.user_id, claim.hive_id)) != (
            claim.apiary_id,
            claim.device_id,
        ):
            verdicts.append(LOST_HIVE)
        else:
            verdicts.append(None)
    return verdicts


def session_expiry(session_key: str) -> datetime | None:
    """When the stored session expires (None if it is gone, or the engine keeps no
    expiry the server can read: the periodic check still ends such sockets)."""
    model = _session_model()
    if model is None:
        return None
    return (
        model.objects.filter(session_key=session_key).values_list("expire_date", flat=True).first()
    )
