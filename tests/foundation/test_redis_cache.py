"""Requests served by the ASGI application reuse their server process's Redis connections
(core/redis_cache.py). Each request runs in a context of its own, where Django's
RedisCache built a new pool for every request and so opened a new connection to Redis
for every bearer-token lookup (Django ticket #35651)."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import redis
from asgiref.sync import async_to_sync
from channels.testing import HttpCommunicator
from django.core.cache import caches
from rest_framework_simplejwt.tokens import AccessToken

from beeapi.asgi import application
from tests.accounts.factories import BeekeeperFactory
from tests.conftest import TEST_REDIS_URL, redis_cache

pytestmark = [
    pytest.mark.skipif(not TEST_REDIS_URL, reason="no Redis for the test run"),
    pytest.mark.django_db(transaction=True),
]


def _me(token: str) -> int:
    async def go() -> dict:
        return await HttpCommunicator(
            application,
            "GET",
            "/users/me",
            headers=[(b"host", b"localhost"), (b"authorization", f"Bearer {token}".encode())],
        ).get_response()

    return async_to_sync(go)()["status"]


def test_requests_reuse_the_processs_redis_connections(settings: Any) -> None:
    settings.CACHES = {**settings.CACHES, "entities": redis_cache(TEST_REDIS_URL or "")}
    caches["entities"].clear()
    token = str(AccessToken.for_user(BeekeeperFactory()))
    probe = redis.Redis.from_url(TEST_REDIS_URL or "")

    def connections_received() -> int:
        return probe.info("stats")["total_connections_received"]

    before = connections_received()
    statuses = [_me(token) for _ in range(20)]
    opened = connections_received() - before

    assert statuses == [200] * 20
    # One connection for the lookups (Django's own RedisCache: one per request, 20);
    # a little slack for whatever else of this process connects meanwhile.
    assert opened <= 3
    caches["entities"].clear()
    probe.close()


def test_the_cache_answers_after_redis_drops_the_pooled_connection(
    settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The risk that sharing brings: a pooled connection can be closed under the pool
    (Redis restarted, an idle timeout, an operator's CLIENT KILL), where Django's own
    backend opened a new one per request. The pool notices the closed socket when it
    hands the connection out, so the next lookup is answered by the cache, not by the
    database after a warning that the cache is unavailable."""
    settings.CACHES = {**settings.CACHES, "entities": redis_cache(TEST_REDIS_URL or "")}
    caches["entities"].clear()
    token = str(AccessToken.for_user(BeekeeperFactory()))
    assert _me(token) == 200
    pooled = caches["entities"]._cache.get_client()
    probe = redis.Redis.from_url(TEST_REDIS_URL or "")

    assert probe.client_kill_filter(_id=pooled.client_id()) == 1
    with caplog.at_level(logging.WARNING, logger="beeapi"):
        statuses = [_me(token) for _ in range(3)]

    assert statuses == [200, 200, 200]
    assert "entities cache unavailable" not in caplog.text
    caches["entities"].clear()
    probe.close()
