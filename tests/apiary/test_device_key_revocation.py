"""A replaced or revoked device key is refused as soon as the change commits, whatever the
shared cache did: with a Redis of the test's own, paused (SIGSTOP) while the key is
replaced, the replacement either succeeds and the old key is refused, or fails with 503
and changes nothing (the old key still works, nothing half-written)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import caches
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from apiary.device_keys import device_key_hash
from apiary.models import Hive
from devtools import devstack, localpg
from tests.conftest import redis_cache
from tests.servers import daphne, database_url
from tests.telemetry.conftest import DeviceHive, make_hive, reading

pytestmark = [
    pytest.mark.skipif(not shutil.which("redis-server"), reason="redis-server not installed"),
    pytest.mark.django_db(transaction=True, databases=["default", "telemetry"]),
]

NOT_REPLACED = "The device key could not be replaced: the cache is unavailable. Try again."


@dataclass
class OwnRedis:
    proc: subprocess.Popen
    url: str

    def pause(self) -> None:
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.proc.pid, signal.SIGCONT)


@pytest.fixture
def own_redis() -> Iterator[OwnRedis]:
    """A Redis of this test only (never the run's): pausing it stalls nobody else."""
    port = localpg.free_port()
    proc = devstack._start_redis(shutil.which("redis-server") or "", port, None)
    redis = OwnRedis(proc, f"redis://127.0.0.1:{port}/0")
    try:
        yield redis
    finally:
        redis.resume()
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def redis_entities(own_redis: OwnRedis, settings: Any) -> OwnRedis:
    """The entities cache in that Redis, configured as every server process has it."""
    settings.CACHES = {**settings.CACHES, "entities": redis_cache(own_redis.url)}
    caches["entities"].clear()
    return own_redis


@pytest.fixture
def hive(alice: Any) -> DeviceHive:
    return make_hive(alice, "stall-1")


def owner_client(hive: DeviceHive) -> APIClient:
    client = APIClient()
    client.force_authenticate(hive.hive.apiary.owner)
    return client


def post_reading(key: str) -> int:
    return (
        APIClient().post("/telemetry", reading(), format="json", HTTP_X_DEVICE_KEY=key).status_code
    )


def replace(hive: DeviceHive) -> Any:
    return owner_client(hive).post(f"/hives/{hive.hive.pk}/device-key")


def assert_replaced(hive: DeviceHive, response: Any) -> None:
    new_key = response.json()["device_key"]
    assert Hive.objects.get(pk=hive.hive.pk).device_key_hash == device_key_hash(new_key)
    assert post_reading(hive.key) == 401
    assert post_reading(new_key) == 201


def assert_not_replaced(hive: DeviceHive, response: Any) -> None:
    assert response.json()["detail"] == NOT_REPLACED
    assert Hive.objects.get(pk=hive.hive.pk).device_key_hash == device_key_hash(hive.key)
    assert post_reading(hive.key) == 201  # still the hive's key: it works


def test_a_replacement_while_redis_is_paused_fails_and_changes_nothing(
    redis_entities: OwnRedis, hive: DeviceHive
) -> None:
    assert post_reading(hive.key) == 201  # the key's hive is now cached in Redis
    redis_entities.pause()
    try:
        response = replace(hive)
    finally:
        redis_entities.resume()
    # Before: 201, and the old key was accepted from Redis for ENTITY_CACHE_SECONDS.
    assert response.status_code == 503, response.content
    assert_not_replaced(hive, response)
    # Once the cache answers, the owner tries again.
    response = replace(hive)
    assert response.status_code == 201, response.content
    assert_replaced(hive, response)


def test_a_replacement_racing_a_stalled_redis_never_leaves_the_old_key_working(
    redis_entities: OwnRedis, hive: DeviceHive
) -> None:
    """Redis resumes while the replacement waits for it: whichever way that goes, the
    old key is refused afterwards or the replacement did not happen."""
    assert post_reading(hive.key) == 201
    answers: list[Any] = []
    redis_entities.pause()
    try:
        worker = threading.Thread(target=lambda: answers.append(replace(hive)))
        worker.start()
        worker.join(timeout=0.3)  # let it reach the stalled cache (or not: both are fine)
    finally:
        redis_entities.resume()
    worker.join()
    (response,) = answers
    if response.status_code == 201:
        assert_replaced(hive, response)
    else:
        assert response.status_code == 503, response.content
        assert_not_replaced(hive, response)


def test_deleting_a_hive_while_redis_is_paused_fails_and_keeps_it(
    redis_entities: OwnRedis, hive: DeviceHive
) -> None:
    assert post_reading(hive.key) == 201
    redis_entities.pause()
    try:
        response = owner_client(hive).delete(f"/hives/{hive.hive.pk}")
    finally:
        redis_entities.resume()
    assert response.status_code == 503, response.content
    assert "the cache is unavailable" in response.json()["detail"]
    assert Hive.objects.filter(pk=hive.hive.pk).exists()
    assert post_reading(hive.key) == 201
    assert owner_client(hive).delete(f"/hives/{hive.hive.pk}").status_code == 204
    assert post_reading(hive.key) == 401


def test_under_daphne_with_redis_paused_during_the_replacement(
    own_redis: OwnRedis, hive: DeviceHive, tmp_path: Path
) -> None:
    """The issue's reproduction: a server process with REDIS_URL, Redis paused for the
    replacement. Before: 201, then the old key was accepted for about 300 s."""
    env = {
        "POSTGRES_URL": database_url("default"),
        "TIMESCALE_URL": database_url("telemetry"),
        "REDIS_URL": own_redis.url,
    }
    owner = {"Authorization": f"Bearer {AccessToken.for_user(hive.hive.apiary.owner)}"}
    with daphne(env, tmp_path / "daphne.log") as server:

        def post(key: str) -> int:
            status, _ = server.post_json("/telemetry", reading(), {"X-Device-Key": key})
            return status

        assert post(hive.key) == 201  # cached in Redis
        own_redis.pause()
        try:
            status, body = server.request("POST", f"/hives/{hive.hive.pk}/device-key", b"", owner)
        finally:
            own_redis.resume()
        assert status == 503, body
        assert post(hive.key) == 201  # not replaced: still the key
        status, body = server.request("POST", f"/hives/{hive.hive.pk}/device-key", b"", owner)
        assert status == 201, body
        assert post(hive.key) == 401
