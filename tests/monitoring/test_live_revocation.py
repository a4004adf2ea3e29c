"""Live sockets lose their streams when their right to them ends, whether or not the
announcement through the channel layer arrives: the live hub checks every socket against
the database at least every LIVE_ACCESS_RECHECK_SECONDS (monitoring.live_hub).

The announcements are dropped here (``lost_announcements``), as they are when Redis is
down at the moment of the change; tests/monitoring/test_live_redis_outage.py stops a real
Redis instead.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.utils import timezone
from rest_framework_simplejwt.tokens import AccessToken

from alerts.live import user_group
from apiary.models import Membership
from beeapi.asgi import application
from monitoring.live import access_group, device_group, hive_group
from monitoring.live_hub import live_hub
from telemetry.services import readings_ingest
from tests.accounts.factories import BeekeeperFactory
from tests.telemetry.conftest import make_hive, reading

LIVE = pytest.mark.django_db(transaction=True, databases=["default", "telemetry"])


@pytest.fixture
def alice(transactional_db: None) -> Any:
    return BeekeeperFactory(email="alice@example.com")


@pytest.fixture
def bob(transactional_db: None) -> Any:
    return BeekeeperFactory(email="bob@example.com")


@pytest.fixture
def quick_rechecks(settings: Any) -> None:
    settings.LIVE_ACCESS_RECHECK_SECONDS = 0.2


@pytest.fixture
def lost_announcements(monkeypatch: Any) -> list[str]:
    """Drop the access.revoked messages of apiary.services, as a Redis outage does."""
    from monitoring import live

    dropped: list[str] = []
    monkeypatch.setattr(live, "_close", dropped.append)
    return dropped


def _socket(path: str, user: Any) -> WebsocketCommunicator:
    return WebsocketCommunicator(application, f"{path}?token={AccessToken.for_user(user)}")


async def _following(hive: Any, user: Any) -> WebsocketCommunicator:
    ws = _socket(f"/ws/hive/{hive.pk}/telemetry", user)
    assert (await ws.connect())[0]
    assert (await ws.receive_json_from(timeout=5))["type"] == "history"
    return ws


async def _close_code(ws: WebsocketCommunicator) -> int | None:
    """The close code of the socket's next output, which must be its close."""
    output = await ws.receive_output(timeout=10)
    assert output["type"] == "websocket.close", output
    return output.get("code")


def _share(hive: Any, user: Any, role: str = "viewer") -> Membership:
    return Membership.objects.create(apiary=hive.apiary, user=user, email=user.email, role=role)


@LIVE
def test_a_removed_member_is_closed_4404_though_the_announcement_was_lost(
    alice: Any, bob: Any, quick_rechecks: None, lost_announcements: list[str]
) -> None:
    from apiary import members

    device = make_hive(alice, "revoke-1")
    membership = _share(device.hive, bob)

    async def scenario() -> None:
        mine = await _following(device.hive, alice)
        theirs = await _following(device.hive, bob)
        await database_sync_to_async(members.member_remove)(actor=alice, membership=membership)
        assert lost_announcements  # the fast path was tried and lost
        assert await _close_code(theirs) == 4404
        # The owner's socket passed the same checks and still streams.
        await database_sync_to_async(readings_ingest)(
            device_id="revoke-1", readings=[reading(minutes=1, temperature=33.0)]
        )
        assert (await mine.receive_json_from(timeout=5))["type"] == "readings"
        await mine.disconnect()

    async_to_sync(scenario)()


@LIVE
@pytest.mark.parametrize("change", ["deleted", "moved", "device id changed"])
def test_a_deleted_or_moved_hive_closes_its_sockets_4404_though_the_announcement_was_lost(
    alice: Any, bob: Any, quick_rechecks: None, lost_announcements: list[str], change: str
) -> None:
    from apiary import services
    from tests.factories import ApiaryFactory

    device = make_hive(alice, "revoke-2")
    hive = device.hive
    _share(hive, bob)
    elsewhere = ApiaryFactory(owner=alice)

    def make_the_change() -> None:
        if change == "deleted":
            services.hive_delete(hive=hive, actor=alice)
        elif change == "moved":
            services.hive_update(hive=hive, actor=alice, apiary=elsewhere)
        else:
            services.hive_update(hive=hive, actor=alice, device_id="revoke-2b")

    async def scenario() -> None:
        sockets = [await _following(hive, alice), await _following(hive, bob)]
        await database_sync_to_async(make_the_change)()
        for ws in sockets:
            assert await _close_code(ws) == 4404

    async_to_sync(scenario)()


@LIVE
def test_a_deactivated_users_sockets_close_4401(alice: Any, quick_rechecks: None) -> None:
    device = make_hive(alice, "revoke-3")

    async def scenario() -> None:
        stream = await _following(device.hive, alice)
        alerts = _socket("/ws/alerts", alice)
        assert (await alerts.connect())[0]
        assert (await alerts.receive_json_from(timeout=5))["type"] == "open"
        alice.is_active = False
        await database_sync_to_async(alice.save)(update_fields=["is_active"])
        assert await _close_code(stream) == 4401
        assert await _close_code(alerts) == 4401

    async_to_sync(scenario)()


def _session_cookie(client: Any, user: Any) -> tuple[str, list[tuple[bytes, bytes]]]:
    client.force_login(user)
    key = client.cookies["sessionid"].value
    return key, [(b"cookie", f"sessionid={key}".encode())]


@LIVE
@pytest.mark.parametrize("stream", ["hive", "alerts"])
def test_a_session_socket_closes_4401_at_the_check_after_a_sign_out(
    alice: Any, client: Any, quick_rechecks: None, stream: str
) -> None:
    device = make_hive(alice, "revoke-4")
    key, cookie = _session_cookie(client, alice)
    path = f"/ws/hive/{device.hive.pk}/telemetry" if stream == "hive" else "/ws/alerts"

    async def scenario() -> None:
        ws = WebsocketCommunicator(application, path, headers=cookie)
        assert (await ws.connect())[0]
        assert (await ws.receive_json_from(timeout=5))["type"] in ("history", "open")
        # Signing out deletes the session (django.contrib.auth.logout flushes it).
        await database_sync_to_async(client.logout)()
        assert await _close_code(ws) == 4401

    async_to_sync(scenario)()


@LIVE
def test_a_session_socket_closes_4401_when_its_session_expires(
    alice: Any, client: Any, settings: Any
) -> None:
    """At the session's expiry, not at a periodic check (30 s apart here)."""
    from django.contrib.sessions.models import Session

    settings.LIVE_ACCESS_RECHECK_SECONDS = 30
    device = make_hive(alice, "revoke-5")
    key, cookie = _session_cookie(client, alice)
    Session.objects.filter(session_key=key).update(
        expire_date=timezone.now() + timedelta(seconds=2)
    )

    async def scenario() -> None:
        ws = WebsocketCommunicator(
            application, f"/ws/hive/{device.hive.pk}/telemetry", headers=cookie
        )
        assert (await ws.connect())[0]
        assert (await ws.receive_json_from(timeout=5))["type"] == "history"
        assert await _close_code(ws) == 4401

    async_to_sync(scenario)()


@LIVE
def test_a_session_extended_before_it_expires_keeps_its_socket(
    alice: Any, client: Any, settings: Any
) -> None:
    """The expiry read at connect is read again when it comes: activity may have moved it."""
    from django.contrib.sessions.models import Session

    settings.LIVE_ACCESS_RECHECK_SECONDS = 30
    device = make_hive(alice, "revoke-6")
    key, cookie = _session_cookie(client, alice)
    sessions = Session.objects.filter(session_key=key)
    sessions.update(expire_date=timezone.now() + timedelta(seconds=1))

    async def scenario() -> None:
        ws = WebsocketCommunicator(
            application, f"/ws/hive/{device.hive.pk}/telemetry", headers=cookie
        )
        assert (await ws.connect())[0]
        assert (await ws.receive_json_from(timeout=5))["type"] == "history"
        await database_sync_to_async(sessions.update)(
            expire_date=timezone.now() + timedelta(days=1)
        )
        assert await ws.receive_nothing(timeout=2.5)
        await database_sync_to_async(readings_ingest)(
            device_id="revoke-6", readings=[reading(minutes=1, temperature=33.0)]
        )
        assert (await ws.receive_json_from(timeout=5))["type"] == "readings"
        await ws.disconnect()

    async_to_sync(scenario)()


@LIVE
def test_one_check_covers_every_socket_in_a_bounded_number_of_queries(
    alice: Any, bob: Any, quick_rechecks: None, django_assert_max_num_queries: Any
) -> None:
    """Three queries (users, sessions, hives) whatever the number of sockets and users."""
    from monitoring.live_access import AccessClaim, access_verdicts

    devices = [make_hive(alice, f"revoke-q{n}") for n in range(5)]
    _share(devices[0].hive, bob)
    carol = BeekeeperFactory(email="carol@example.com")
    claims = [
        AccessClaim(
            user_id=alice.pk, hive_id=d.hive.pk, apiary_id=d.hive.apiary_id, device_id=d.device_id
        )
        for d in devices
    ] + [
        AccessClaim(
            user_id=bob.pk,
            hive_id=devices[0].hive.pk,
            apiary_id=devices[0].hive.apiary_id,
            device_id="revoke-q0",
        ),
        AccessClaim(
            user_id=carol.pk,
            hive_id=devices[0].hive.pk,
            apiary_id=devices[0].hive.apiary_id,
            device_id="revoke-q0",
        ),
        AccessClaim(user_id=carol.pk),
    ]
    with django_assert_max_num_queries(3):
        verdicts = access_verdicts(claims)
    assert verdicts == [None] * 6 + ["hive", None]


@LIVE
def test_sockets_leave_every_group_they_joined(alice: Any) -> None:
    """Both streams: the in-memory layer holds no membership of theirs after disconnect
    (the alert stream's group outlived its sockets)."""
    device = make_hive(alice, "revoke-7")
    layer = get_channel_layer()
    hive = device.hive
    groups = [
        access_group(hive.apiary_id, alice.pk),
        hive_group(hive.pk),
        device_group("revoke-7"),
        user_group(alice.pk),
    ]

    async def scenario() -> None:
        stream = await _following(hive, alice)
        alerts = _socket("/ws/alerts", alice)
        assert (await alerts.connect())[0]
        assert (await alerts.receive_json_from(timeout=5))["type"] == "open"
        assert all(layer.groups.get(group) for group in groups)
        await stream.disconnect()
        await alerts.disconnect()
        assert [group for group in groups if group in layer.groups] == []

    async_to_sync(scenario)()


@LIVE
def test_an_outage_refuses_new_sockets_4503_and_tells_open_ones_of_the_gap(
    alice: Any, caplog: Any
) -> None:
    """The layer fails (here reported as a publish to Redis would), then works again:
    the next probe through it ends the outage."""
    device = make_hive(alice, "revoke-8")
    layer = get_channel_layer()

    async def scenario() -> None:
        stream = await _following(device.hive, alice)
        alerts = _socket("/ws/alerts", alice)
        assert (await alerts.connect())[0]
        assert (await alerts.receive_json_from(timeout=5))["type"] == "open"
        hub = live_hub(layer)
        hub._probe_sent = None
        hub.layer_failed(ConnectionError("Redis is gone"))
        hub.layer_failed(ConnectionError("Redis is still gone"))
        since = hub.down_since
        assert since is not None
        new = _socket(f"/ws/hive/{device.hive.pk}/telemetry", alice)
        assert (await new.connect())[0]
        assert await _close_code(new) == 4503
        gap = await stream.receive_json_from(timeout=10)
        assert gap["type"] == "gap" and gap["hive"] == device.hive.pk
        assert gap["since"].endswith("Z")
        assert (await alerts.receive_json_from(timeout=5))["type"] == "gap"
        assert hub.down_since is None
        # Streaming goes on, and new sockets are welcome again.
        await database_sync_to_async(readings_ingest)(
            device_id="revoke-8", readings=[reading(minutes=1, temperature=33.0)]
        )
        assert (await stream.receive_json_from(timeout=5))["type"] == "readings"
        again = await _following(device.hive, alice)
        for ws in (stream, alerts, again):
            await ws.disconnect()

    with caplog.at_level("INFO", logger="telemetry.live"):
        async_to_sync(scenario)()
    said = [r.getMessage() for r in caplog.records if r.name == "telemetry.live"]
    assert len([m for m in said if "layer is unreachable" in m]) == 1
    assert len([m for m in said if "layer is back" in m]) == 1
