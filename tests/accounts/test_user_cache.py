"""The user of a bearer token is cached (accounts.authentication, core.entity_cache) and
forgotten on every save and delete of the user: a deactivated or deleted account is
refused at once, a changed one is seen at once. Run with the per-process cache and,
where the test run has one, with Redis (the cache every server process shares)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.core.cache import caches
from django.db import connections
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from accounts.authentication import CachedUserJWTAuthentication
from accounts.models import User
from accounts.services import user_set_password
from apiary.selectors import device_by_key
from beeapi import replicas
from tests.accounts.factories import BeekeeperFactory
from tests.conftest import redis_cache

pytestmark = pytest.mark.django_db


@pytest.fixture
def carol(db: None) -> User:
    return BeekeeperFactory(email="carol@example.com", name="Carol")


def bearer(user: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")
    return client


def user_queries(client: APIClient) -> tuple[int, int]:
    """(status of GET /users/me, queries of the users table it made)."""
    with CaptureQueriesContext(connections["default"]) as queries:
        status = client.get("/users/me").status_code
    return status, sum('FROM "users"' in q["sql"] for q in queries.captured_queries)


def test_the_token_user_is_read_once(entity_cache: str, carol: User) -> None:
    client = bearer(carol)
    assert user_queries(client) == (200, 1)
    assert user_queries(client) == (200, 0)  # from the cache
    assert client.get("/users/me").json()["email"] == "carol@example.com"


def test_a_deactivated_user_is_refused_at_once(entity_cache: str, carol: User) -> None:
    client = bearer(carol)
    assert user_queries(client)[0] == 200
    carol.is_active = False
    carol.save(update_fields=["is_active"])
    response = client.get("/users/me")
    assert response.status_code == 401
    assert response.json()["code"] == "user_inactive"
    assert user_queries(client) == (401, 1)  # inactive users are not cached


def test_a_deleted_user_is_refused_at_once(entity_cache: str, carol: User) -> None:
    client = bearer(carol)
    assert user_queries(client)[0] == 200
    User.objects.filter(pk=carol.pk).delete()  # the admin's bulk delete: signals per row
    response = client.get("/users/me")
    assert response.status_code == 401
    assert response.json()["code"] == "user_not_found"


def test_a_changed_user_is_seen_at_once(entity_cache: str, carol: User) -> None:
    client = bearer(carol)
    assert client.patch("/users/me", {"name": "Caroline"}, format="json").status_code == 200
    assert client.get("/users/me").json()["name"] == "Caroline"
    user_set_password(user=carol, password="a-new-long-passphrase-42")
    superuser = User.objects.get(pk=carol.pk)
    superuser.is_superuser = True
    superuser.save()
    cached = CachedUserJWTAuthentication().get_user(AccessToken.for_user(carol))
    assert cached.is_superuser is True and cached.check_password("a-new-long-passphrase-42")


def test_a_socket_token_user_comes_from_the_same_cache(entity_cache: str, carol: User) -> None:
    """WebSockets (monitoring.ws_auth) find a token's user as the API does: cached, and
    refused at once once deactivated."""
    from monitoring.ws_auth import user_for_token

    token = str(AccessToken.for_user(carol))
    for queries_expected in (1, 0):
        with CaptureQueriesContext(connections["default"]) as queries:
            user, expires = user_for_token(token)
        assert (user.pk, expires is not None) == (carol.pk, True)
        assert sum('FROM "users"' in q["sql"] for q in queries.captured_queries) == (
            queries_expected
        )
    carol.is_active = False
    carol.save(update_fields=["is_active"])
    user, expires = user_for_token(token)
    assert (user.is_authenticated, expires) == (False, None)


def test_a_cache_that_is_down_costs_a_query_not_the_request(carol: User) -> None:
    down = redis_cache("redis://127.0.0.1:1/0")  # nothing listens on port 1
    with override_settings(CACHES={**settings.CACHES, "entities": down}):
        client = bearer(carol)
        assert user_queries(client) == (200, 1)
        assert user_queries(client) == (200, 1)
        carol.is_active = False
        carol.save(update_fields=["is_active"])  # forgetting fails quietly
        assert client.get("/users/me").status_code == 401


def test_a_cache_that_did_not_answer_is_not_written_to(carol: User, monkeypatch: Any) -> None:
    """A Redis that hangs costs a lookup its timeout once, not again for the store."""
    from apiary.device_keys import device_key_generate, device_key_hash
    from apiary.models import Apiary, Hive
    from core import entity_cache

    stored: list[str] = []
    monkeypatch.setattr(entity_cache, "remember", lambda key, value: stored.append(key))
    key = device_key_generate()
    apiary = Apiary.objects.create(owner=carol, name="Down")
    Hive.objects.create(
        apiary=apiary, name="H", device_id="down-1", device_key_hash=device_key_hash(key)
    )
    down = redis_cache("redis://127.0.0.1:1/0")
    with override_settings(CACHES={**settings.CACHES, "entities": down}):
        assert bearer(carol).get("/users/me").status_code == 200
        assert device_by_key(key=key) is not None
    assert stored == []
    bearer(carol).get("/users/me")
    device_by_key(key=key)
    assert [k.partition(":")[0] for k in stored] == ["user", "device-key"]


@pytest.fixture
def replica_reads(settings: Any) -> Iterator[None]:
    """Reads of a request routed to a replica alias that does not exist: any read that
    went there would fail."""
    settings.DATABASE_REPLICAS = {"default": ["default_replica_1"], "telemetry": []}
    settings.REPLICA_CHECK_SECONDS = 3600
    replicas.monitor.forget()
    replicas.monitor.set_status(
        replicas.ReplicaStatus(
            alias="default_replica_1",
            primary="default",
            state=replicas.OK,
            lag_seconds=0.0,
            checked_at=time.monotonic(),
        )
    )
    caches[replicas.CACHE_ALIAS].clear()
    yield
    replicas.monitor.forget()
    caches[replicas.CACHE_ALIAS].clear()


@pytest.mark.django_db(transaction=True)  # outside a transaction, so reads may use replicas
def test_what_is_cached_is_read_from_the_primary(
    entity_cache: str, replica_reads: None, carol: User
) -> None:
    """A user or device key read from a lagging replica would be cached for
    ENTITY_CACHE_SECONDS, not for the lag: a cache miss reads the primary."""
    from apiary.device_keys import device_key_generate, device_key_hash
    from apiary.models import Apiary, Hive

    key = device_key_generate()
    apiary = Apiary.objects.create(owner=carol, name="Replica test")
    hive = Hive.objects.create(
        apiary=apiary, name="H", device_id="replica-1", device_key_hash=device_key_hash(key)
    )
    with replicas.reading(True) as state:
        user = CachedUserJWTAuthentication().get_user(AccessToken.for_user(carol))
        assert device_by_key(key=key) == (hive.pk, "replica-1")
        assert state.wrote is False  # reading the primary does not pin the client to it
    assert user.pk == carol.pk
