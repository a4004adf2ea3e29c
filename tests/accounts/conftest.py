"""Accounts fixtures: a superuser and fresh throttle counters (alice, bob, alice_client and
the anonymous ``api`` client are tests/conftest.py's)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.cache import cache, caches
from pytest_django import Settings

from accounts.models import User
from tests.accounts.factories import SuperuserFactory

THROTTLE_CACHE = {
    "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
    "LOCATION": "accounts-tests-throttle",
}


@pytest.fixture(autouse=True)
def _fresh_throttle_counters(settings: Settings) -> Iterator[None]:
    # Throttle history lives in the throttle cache and would leak between tests: each
    # test counts in a local one of its own (never clear someone's Redis).
    settings.CACHES = {**settings.CACHES, "throttle": THROTTLE_CACHE}
    caches["throttle"].clear()
    cache.clear()
    yield
    caches["throttle"].clear()
    cache.clear()


@pytest.fixture
def root(db: None) -> User:
    return SuperuserFactory(email="root@example.com")
