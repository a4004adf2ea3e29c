"""The ``entities`` cache: hot entity lookups (a device key's hive, a bearer token's
user), in Redis with REDIS_URL so every server process shares them, else per process.

Nothing here raises: a cache that is down costs a lookup a query, never a request. Its
callers forget an entry on every save and delete of what it holds, once at once and
once after the commit (:func:`forget_now_and_after_commit`).
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.db import transaction

logger = logging.getLogger("beeapi")

ALIAS = "entities"


def lookup(key: str) -> tuple[Any | None, bool]:
    """(the cached value or None, whether the cache answered). A caller whose cache did
    not answer reads the database and does not try to store what it read: a Redis that
    hangs would cost the request its timeout twice."""
    try:
        return caches[ALIAS].get(key), True
    except Exception:  # noqa: BLE001 - Redis down: the database answers
        logger.warning("entities cache unavailable; %s read from the database", _kind(key))
        return None, False


def remember(key: str, value: Any) -> None:
    try:
        caches[ALIAS].set(key, value, settings.ENTITY_CACHE_SECONDS)
    except Exception:  # noqa: BLE001
        logger.warning("entities cache unavailable; %s not cached", _kind(key))


def forget(*keys: str) -> None:
    """Drop these entries. While the cache is unreachable lookups skip it and ask the
    database, so a changed entity is seen all the same; only if that cache comes back
    with the stale entry does it live on, for ENTITY_CACHE_SECONDS."""
    if not keys:
        return
    try:
        caches[ALIAS].delete_many(list(keys))
    except Exception:  # noqa: BLE001
        logger.exception("forgetting %d cached %s entr(ies) failed", len(keys), _kind(keys[0]))


def forget_now_and_after_commit(*keys: str, using: str) -> None:
    """Forget at once and again when ``using``'s transaction commits: between the change
    and the commit another request may have read the old row back into the cache."""
    forget(*keys)
    transaction.on_commit(lambda: forget(*keys), using=using)


def _kind(key: str) -> str:
    return key.partition(":")[0]
