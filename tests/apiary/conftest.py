"""Named users: alice owns an apiary with a hive; bob is another beekeeper; anonymous
has no login. Permission tests read as "bob cannot touch alice's hive"."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.factories import ApiaryFactory, HiveFactory


@pytest.fixture
def alice_apiary(alice):
    return ApiaryFactory(owner=alice, name="Orchard")


@pytest.fixture
def alice_hive(alice_apiary):
    return HiveFactory(apiary=alice_apiary, name="Hive A1", device_id="alice-001")


@pytest.fixture
def bob_apiary(bob):
    return ApiaryFactory(owner=bob, name="Meadow")


def _client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def as_alice(alice) -> APIClient:
    return _client(alice)


@pytest.fixture
def as_bob(bob) -> APIClient:
    return _client(bob)


@pytest.fixture
def anonymous() -> APIClient:
    return APIClient()
