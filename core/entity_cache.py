"""The ``entities`` cache: hot entity lookups (a device key's hive, a bearer token's
user), in Redis with REDIS_URL so every server process shares them, else per process.

Reading never raises: a cache that is down costs a lookup a query, never a request.

Two ways to take an entry back:

- :func:`forget_now_and_after_commit` (users): delete the entry at once and again after
  the commit. Best effort: if the cache is unreachable meanwhile, a stale entry it still
  holds lives on for up to ENTITY_CACHE_SECONDS once it answers again.
- :func:`revoke` (device keys, a credential that must stop at once): write a tombstone
  over the entry with ``set``, inside the transaction that makes the change, for
  ENTITY_CACHE_SECONDS. Readers store what they read only with ``add`` (set if absent,
  :func:`remember`), so a reader that read the old row before the commit can never
  replace the tombstone, and a tombstone found by :func:`lookup` means "ask the
  database and cache nothing". If the tombstone cannot be written (the cache is
  unreachable or timed out), :func:`revoke` raises :class:`CacheUnavailable` and the
  change fails as a whole (its transaction rolls back; the API answers 503), so no
  stale positive entry can outlive a change that happened. A tombstone that reached the
  cache although the change then failed (a write that timed out on our side but was
  carried out when the cache resumed) only costs that key a query per lookup until it
  expires. The one window left: a reader that read the old row and then waited longer
  than ENTITY_CACHE_SECONDS before storing it.

A hit is one round trip (a positive entry or a tombstone); a miss two (``get`` and
``add``). Without Redis the cache is per process and never unreachable: tombstones and
``add`` work the same within the process.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.db import transaction
from rest_framework import status

from core.exceptions import UpstreamUnavailable

logger = logging.getLogger("beeapi")

ALIAS = "entities"
# What a revoked entry holds: no cached value is a str (users and tuples are stored).
TOMBSTONE = "revoked"


class CacheUnavailable(UpstreamUnavailable):
    """A revocation could not reach the entities cache, so the change that needed it is
    refused (503): it may be retried once the cache answers. An APIException, so every
    API view answers it as JSON ``{"detail": ...}`` whatever service raised it."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The change could not be saved: the cache is unavailable. Try again."
    default_code = "cache_unavailable"


def lookup(key: str) -> tuple[Any | None, bool]:
    """(the cached value or None, whether the caller may store what it reads).

    A caller whose cache did not answer reads the database and does not try to store
    what it read: a Redis that hangs would cost the request its timeout twice. A
    tombstone (:func:`revoke`) answers (None, False): read the database, cache nothing.
    """
    try:
        value = caches[ALIAS].get(key)
    except Exception:  # noqa: BLE001 - Redis down: the database answers
        logger.warning("entities cache unavailable; %s read from the database", _kind(key))
        return None, False
    if isinstance(value, str) and value == TOMBSTONE:
        return None, False
    return value, True


def remember(key: str, value: Any) -> None:
    """Store what a reader read, unless an entry is there: ``add``, never ``set``, so a
    reader can never overwrite a tombstone written after its read."""
    try:
        caches[ALIAS].add(key, value, settings.ENTITY_CACHE_SECONDS)
    except Exception:  # noqa: BLE001
        logger.warning("entities cache unavailable; %s not cached", _kind(key))


def revoke(*keys: str, detail: str | None = None) -> None:
    """Write tombstones over these entries, or raise :class:`CacheUnavailable` (with
    ``detail``) when the cache cannot be reached. Call it inside the transaction of the
    change, before it commits, so that a failure rolls the change back."""
    if not keys:
        return
    try:
        caches[ALIAS].set_many(dict.fromkeys(keys, TOMBSTONE), settings.ENTITY_CACHE_SECONDS)
    except Exception as exc:
        logger.warning("revoking %d cached %s entr(ies) failed: %s", len(keys), _kind(keys[0]), exc)
        raise CacheUnavailable(detail) from exc


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
