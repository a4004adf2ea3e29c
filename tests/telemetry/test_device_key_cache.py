"""The device-key lookup of POST /telemetry is cached (apiary.selectors.device_by_key) and
forgotten on every change of the hive: a replaced key, a deleted hive or apiary, a new
device_id. Run with the per-process cache and, where the test run has one, with Redis
(the cache every server process shares)."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import connections
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from apiary import signals
from apiary.device_keys import device_key_hash
from apiary.models import Hive
from apiary.selectors import device_by_key, device_key_cache_key
from core import entity_cache as entity_cache_module
from tests.conftest import redis_cache
from tests.telemetry.conftest import DeviceHive, jwt_client, reading

pytestmark = pytest.mark.django_db(databases=["default", "telemetry"])


def post(client: APIClient, key: str) -> int:
    return client.post(
        "/telemetry", [reading()][0], format="json", HTTP_X_DEVICE_KEY=key
    ).status_code


def hive_queries(key: str) -> int:
    with CaptureQueriesContext(connections["default"]) as queries:
        assert device_by_key(key=key) is not None
    return sum('"hives"' in q["sql"] for q in queries.captured_queries)


def test_a_known_key_is_looked_up_once(entity_cache: str, alice_hive: DeviceHive) -> None:
    assert hive_queries(alice_hive.key) == 1
    assert hive_queries(alice_hive.key) == 0  # from the cache
    assert device_by_key(key=alice_hive.key) == (alice_hive.hive.pk, alice_hive.device_id)


def test_unknown_keys_are_not_cached(entity_cache: str) -> None:
    for _ in range(2):
        with CaptureQueriesContext(connections["default"]) as queries:
            assert device_by_key(key="bk_not-a-key") is None
        assert len(queries.captured_queries) == 1


def test_a_replaced_key_stops_working_at_once(
    entity_cache: str, alice_hive: DeviceHive, alice_client: APIClient
) -> None:
    device = APIClient()
    assert post(device, alice_hive.key) == 201  # now cached
    response = alice_client.post(f"/hives/{alice_hive.hive.pk}/device-key")
    assert response.status_code == 201
    assert post(device, alice_hive.key) == 401
    assert post(device, response.json()["device_key"]) == 201


def test_a_deleted_hive_or_apiary_takes_its_key_along(
    entity_cache: str, alice_hive: DeviceHive, alice_client: APIClient
) -> None:
    device = APIClient()
    assert post(device, alice_hive.key) == 201
    assert alice_client.delete(f"/hives/{alice_hive.hive.pk}").status_code == 204
    assert post(device, alice_hive.key) == 401


def test_an_apiary_deleted_with_its_hives_takes_their_keys_along(
    entity_cache: str, alice_hive: DeviceHive, alice_client: APIClient
) -> None:
    device = APIClient()
    assert post(device, alice_hive.key) == 201
    apiary = alice_hive.hive.apiary_id
    assert alice_client.delete(f"/apiaries/{apiary}").status_code == 204
    assert not Hive.objects.filter(pk=alice_hive.hive.pk).exists()
    assert post(device, alice_hive.key) == 401


def test_a_new_device_id_is_seen_at_once(
    entity_cache: str, alice: object, alice_apiary: object
) -> None:
    owner = jwt_client(alice)  # type: ignore[arg-type]
    created = owner.post(
        "/hives",
        {"apiary": alice_apiary.pk, "name": "Fresh"},
        format="json",  # type: ignore[attr-defined]
    ).json()
    assert device_by_key(key=created["device_key"]).device_id == created["device_id"]
    changed = owner.patch(f"/hives/{created['id']}", {"device_id": "renamed-1"}, format="json")
    assert changed.status_code == 200, changed.content
    assert device_by_key(key=created["device_key"]).device_id == "renamed-1"


def test_a_cache_that_is_down_costs_a_query_not_the_request(alice_hive: DeviceHive) -> None:
    # A port nothing listens on: every cache call fails.
    with override_settings(
        CACHES={**settings.CACHES, "entities": redis_cache("redis://127.0.0.1:1/0")}
    ):
        device = APIClient()
        assert post(device, alice_hive.key) == 201
        assert post(device, "bk_wrong") == 401


def test_a_key_that_cannot_be_revoked_is_not_replaced(alice_hive: DeviceHive) -> None:
    """Replacing a key while the shared cache is unreachable would leave whatever that
    cache holds to authenticate the old key once it is back: the replacement is refused
    as a whole (503), and the old key stays, working."""
    stored = alice_hive.hive.device_key_hash
    with override_settings(
        CACHES={**settings.CACHES, "entities": redis_cache("redis://127.0.0.1:1/0")}
    ):
        owner = APIClient()
        owner.force_authenticate(alice_hive.hive.apiary.owner)
        response = owner.post(f"/hives/{alice_hive.hive.pk}/device-key")
        assert response.status_code == 503, response.content
        assert response.json()["detail"] == (
            "The device key could not be replaced: the cache is unavailable. Try again."
        )
        deleted = owner.delete(f"/hives/{alice_hive.hive.pk}")
        assert deleted.status_code == 503, deleted.content
        assert "could not be revoked" in deleted.json()["detail"]
        assert post(APIClient(), alice_hive.key) == 201
    assert Hive.objects.get(pk=alice_hive.hive.pk).device_key_hash == stored


def test_a_reader_that_read_the_old_row_cannot_bring_it_back(
    entity_cache: str, alice_hive: DeviceHive, alice_client: APIClient
) -> None:
    """A request that read the hive before the replacement committed stores its answer
    afterwards (its own add, at any moment): the revocation's tombstone wins."""
    old = device_by_key(key=alice_hive.key)
    assert old is not None  # cached
    assert alice_client.post(f"/hives/{alice_hive.hive.pk}/device-key").status_code == 201
    entity_cache_module.remember(device_key_cache_key(device_key_hash(alice_hive.key)), tuple(old))
    assert device_by_key(key=alice_hive.key) is None
    assert post(APIClient(), alice_hive.key) == 401


def test_a_revoked_key_is_read_from_the_database_and_not_cached(
    entity_cache: str, alice_hive: DeviceHive
) -> None:
    """A tombstone means "ask the database, cache nothing": a lookup between the
    revocation and the commit sees the old row, and must not cache it."""
    assert hive_queries(alice_hive.key) == 1
    signals.device_keys_revoke(device_key_hash(alice_hive.key))  # the change not committed
    assert hive_queries(alice_hive.key) == 1
    assert hive_queries(alice_hive.key) == 1  # still from the database


def test_deleting_an_account_with_hives_in_the_admin_while_the_cache_is_down_is_a_503(
    alice_hive: DeviceHive,
) -> None:
    """The admin deletes a user's hives by cascade: each key must be revoked, and the
    cache being down refuses the deletion as a whole with a 503, never a 500 page."""
    from django.test import Client

    from tests.accounts.factories import SuperuserFactory

    owner = alice_hive.hive.apiary.owner
    admin = SuperuserFactory()
    client = Client()
    client.force_login(admin)
    with override_settings(
        CACHES={**settings.CACHES, "entities": redis_cache("redis://127.0.0.1:1/0")}
    ):
        response = client.post(f"/admin/accounts/user/{owner.pk}/delete/", {"post": "yes"})
    assert response.status_code == 503, response.content[:300]
    assert response.json()["code"] == "cache_unavailable"
    assert Hive.objects.filter(pk=alice_hive.hive.pk).exists()
    assert type(owner).objects.filter(pk=owner.pk).exists()
