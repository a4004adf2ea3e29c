"""The sign-in and registration throttle counts in the ``throttle`` cache, which every
server process shares when REDIS_URL is set, and lets requests through (logged once)
when that cache is unreachable."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache, caches
from pytest_django import Settings
from rest_framework.test import APIClient

from devtools.devserver import free_port
from tests.accounts.conftest import THROTTLE_CACHE
from tests.conftest import redis_cache
from tests.servers import daphne, database_url

REDIS_URL = os.environ.get("BEEAPI_TEST_REDIS_URL")
WRONG = {"email": "nobody@example.com", "password": "guess-number-1"}


@pytest.fixture
def two_per_minute(settings: Settings) -> Iterator[None]:
    settings.REST_FRAMEWORK = {
        **django_settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"auth": "2/min"},
    }
    caches["throttle"].clear()  # a local one (tests/accounts/conftest.py)
    yield


@pytest.mark.django_db
def test_attempts_are_counted_in_the_throttle_cache(api: APIClient, two_per_minute: None) -> None:
    for _ in range(2):
        assert api.post("/auth/token", WRONG).status_code == 401
    # Django's per-process default cache holds nothing of it.
    cache.clear()

    assert api.post("/auth/token", WRONG).status_code == 429
    caches["throttle"].clear()
    assert api.post("/auth/token", WRONG).status_code == 401


@pytest.mark.django_db
def test_an_unreachable_throttle_cache_lets_requests_through_and_logs_once(
    api: APIClient, two_per_minute: None, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    # Nothing listens on this port: every command of the cache fails at once.
    closed = f"redis://127.0.0.1:{free_port()}/0"
    settings.CACHES = {**settings.CACHES, "throttle": redis_cache(closed)}
    caplog.set_level(logging.WARNING, logger="accounts.api.throttles")

    statuses = [api.post("/auth/token", WRONG).status_code for _ in range(5)]

    assert statuses == [401] * 5
    down = [r for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(down) == 1

    settings.CACHES = {**settings.CACHES, "throttle": THROTTLE_CACHE}
    assert api.post("/auth/token", WRONG).status_code == 401
    assert any("is back" in r.getMessage() for r in caplog.records)


RATE = 5
EXTRA = 5


@pytest.mark.skipif(
    not REDIS_URL, reason="no Redis for the test (make test starts one when it can)"
)
@pytest.mark.django_db(transaction=True)
def test_two_processes_share_one_limit(tmp_path: Path) -> None:
    env = {
        "POSTGRES_URL": database_url("default"),
        "TIMESCALE_URL": database_url("telemetry"),
        "REDIS_URL": REDIS_URL or "",
        "AUTH_THROTTLE_RATE": f"{RATE}/min",
        # The client's address comes from X-Forwarded-For: one of its own per run, so
        # no count left in this Redis by another run or test is shared with it.
        "NUM_PROXIES": "1",
    }
    client = f"2001:db8::{uuid.uuid4().hex[:4]}:{uuid.uuid4().hex[:4]}"
    headers = {"X-Forwarded-For": client}
    with daphne(env, tmp_path / "a.log") as first, daphne(env, tmp_path / "b.log") as second:
        statuses = [
            server.post_json("/auth/token", WRONG, headers=headers)[0]
            for _ in range((RATE + EXTRA) // 2)
            for server in (first, second)
        ]

    assert sorted(statuses).count(429) == EXTRA, statuses
    assert statuses[:RATE] == [401] * RATE, statuses
