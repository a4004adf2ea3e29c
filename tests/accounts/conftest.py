from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from accounts.models import User
from tests.accounts.factories import SuperuserFactory, login


@pytest.fixture(autouse=True)
def _fresh_throttle_counters() -> Iterator[None]:
    # Throttle history lives in the cache and would leak between tests.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def root(db: None) -> User:
    return SuperuserFactory(email="root@example.com")


@pytest.fixture
def alice_client(alice: User) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {login(api, alice.email)['access']}")
    return api
