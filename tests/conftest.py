"""Shared fixtures. Tests talk to real PostgreSQL servers (see devtools/devstack.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from rest_framework.test import APIClient

TEST_REDIS_URL = os.environ.get("BEEAPI_TEST_REDIS_URL")
LOCAL_CACHE = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "test"}


def redis_cache(url: str) -> dict:
    """A Redis cache as settings._shared_cache writes it, under a test prefix."""
    return {
        "BACKEND": "core.redis_cache.SharedPoolRedisCache",
        "LOCATION": url,
        "KEY_PREFIX": "beeapi-test-entities",
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    }


_MODE: dict[str, str | None] = {}


def pytest_report_header(config: pytest.Config) -> str:
    expected = os.environ.get("BEEAPI_TELEMETRY_MODE_EXPECTED") or "not probed"
    return f"BeeAPI telemetry server: {expected}"


@pytest.fixture(scope="session", autouse=True)
def telemetry_mode(django_db_setup, django_db_blocker) -> str | None:
    """The TimescaleDB version in the test telemetry database, or None (plain mode)."""
    from telemetry.timescale import timescale_version

    with django_db_blocker.unblock():
        version = timescale_version()
    _MODE["version"] = version
    return version


@pytest.fixture(autouse=True)
def _storage_mode_markers(request: pytest.FixtureRequest, telemetry_mode: str | None) -> None:
    if request.node.get_closest_marker("timescaledb") and not telemetry_mode:
        pytest.skip("telemetry server has no TimescaleDB (plain-PostgreSQL mode)")
    if request.node.get_closest_marker("plain_postgres") and telemetry_mode:
        pytest.skip("telemetry server runs TimescaleDB")


@pytest.fixture(autouse=True)
def _fresh_entity_cache() -> None:
    """A test's rolled-back hives and users must not answer from the entities cache later."""
    from django.core.cache import caches
    from django.core.cache.backends.locmem import LocMemCache

    if isinstance(caches["entities"], LocMemCache):  # never FLUSHDB someone's Redis
        caches["entities"].clear()


@pytest.fixture(
    params=[
        "local",
        pytest.param(
            "redis",
            marks=pytest.mark.skipif(not TEST_REDIS_URL, reason="no Redis for the test run"),
        ),
    ]
)
def entity_cache(request: pytest.FixtureRequest, settings: Any) -> Iterator[str]:
    """The entities cache (device keys, users) per process, and where the test run has
    one, in Redis (the cache every server process shares); emptied around the test."""
    from django.core.cache import caches

    config = LOCAL_CACHE if request.param == "local" else redis_cache(TEST_REDIS_URL or "")
    settings.CACHES = {**settings.CACHES, "entities": config}
    caches["entities"].clear()
    yield request.param
    caches["entities"].clear()


# The named people (tests/factories.beekeeper): alice and bob are beekeepers with data of
# their own; dave and erin join alice's apiary where a test shares it. Permission tests
# read as "bob cannot touch alice's hive".
@pytest.fixture
def alice(db: None) -> Any:
    """A registered beekeeper; permission tests pit bob against her data."""
    return _factories().beekeeper("alice")


@pytest.fixture
def bob(db: None) -> Any:
    return _factories().beekeeper("bob")


@pytest.fixture
def dave(db: None) -> Any:
    return _factories().beekeeper("dave")


@pytest.fixture
def erin(db: None) -> Any:
    return _factories().beekeeper("erin")


# Named users' data: alice owns an apiary with a hive; bob is another beekeeper;
# anonymous has no login.
@pytest.fixture
def alice_apiary(alice):
    return _factories().ApiaryFactory(owner=alice, name="Orchard")


@pytest.fixture
def alice_hive(alice_apiary):
    return _factories().HiveFactory(apiary=alice_apiary, name="Hive A1", device_id="alice-001")


@pytest.fixture
def bob_apiary(bob):
    return _factories().ApiaryFactory(owner=bob, name="Meadow")


# Clients: as_<user> is authenticated without a token (force_authenticate); <user>_client
# sends the user's JWT access token, through the API's authentication as an app does.
@pytest.fixture
def as_alice(alice) -> APIClient:
    return _factories().force_client(alice)


@pytest.fixture
def as_bob(bob) -> APIClient:
    return _factories().force_client(bob)


@pytest.fixture
def alice_client(alice) -> APIClient:
    return _factories().jwt_client(alice)


@pytest.fixture
def bob_client(bob) -> APIClient:
    return _factories().jwt_client(bob)


@pytest.fixture
def anonymous() -> APIClient:
    return APIClient()


@pytest.fixture
def api(anonymous: APIClient) -> APIClient:
    """The anonymous client, by the name the accounts tests use."""
    return anonymous


def _factories() -> Any:
    import tests.factories

    return tests.factories


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # noqa: ANN001
    if "version" not in _MODE:
        return
    version = _MODE["version"]
    mode = f"TimescaleDB {version}" if version else "plain PostgreSQL (TimescaleDB tests skipped)"
    terminalreporter.write_line(f"BeeAPI telemetry storage mode in this run: {mode}")
