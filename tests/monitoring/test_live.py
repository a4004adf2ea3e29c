"""WS /ws/hive/{id}/telemetry against the real ASGI application and real databases."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from rest_framework_simplejwt.tokens import AccessToken

from beeapi.asgi import application
from telemetry.models import Reading
from telemetry.services import readings_ingest
from tests.accounts.factories import BeekeeperFactory
from tests.telemetry.conftest import make_hive, minutes_ago, reading

LIVE = pytest.mark.django_db(transaction=True, databases=["default", "telemetry"])


def _token(user: Any, lifetime: timedelta | None = None) -> str:
    token = AccessToken.for_user(user)
    if lifetime is not None:
        token.set_exp(lifetime=lifetime)
    return str(token)


def _run(scenario: Any) -> Any:
    return async_to_sync(scenario)()


async def _closed_with(communicator: WebsocketCommunicator) -> int | None:
    """The close code after an accepted handshake; fails if any data frame came first."""
    connected, _ = await communicator.connect()
    assert connected
    output = await communicator.receive_output(timeout=5)
    assert output["type"] == "websocket.close", f"sent before the check: {output}"
    await communicator.wait()
    return output.get("code")


@pytest.fixture
def owner(transactional_db: None) -> Any:
    return BeekeeperFactory(email="alice@example.com")


@LIVE
def test_history_of_the_last_ten_readings_oldest_first_then_live_batches(owner: Any) -> None:
    device = make_hive(owner, "live-001")
    base = datetime.now(UTC) - timedelta(hours=1)
    Reading.objects.bulk_create(
        [
            Reading(device_id="live-001", time=base + timedelta(minutes=i), temperature=30 + i)
            for i in range(12)
        ]
    )

    async def scenario() -> None:
        ws = WebsocketCommunicator(
            application, f"/ws/hive/{device.hive.id}/telemetry?token={_token(owner)}"
        )
        connected, _ = await ws.connect()
        assert connected
        history = await ws.receive_json_from(timeout=5)
        assert history["type"] == "history"
        assert [r["temperature"] for r in history["readings"]] == [30 + i for i in range(2, 12)]

        batch = [reading(minutes=2, temperature=34.0), reading(minutes=1, temperature=35.0)]
        await database_sync_to_async(readings_ingest)(device_id="live-001", readings=batch)
        pushed = await ws.receive_json_from(timeout=5)
        assert pushed["type"] == "readings"
        assert (pushed["hive"], pushed["device_id"]) == (device.hive.id, "live-001")
        assert [r["temperature"] for r in pushed["readings"]] == [34.0, 35.0]

        # Re-sending the same batch stores nothing and pushes nothing.
        await database_sync_to_async(readings_ingest)(device_id="live-001", readings=batch)
        assert await ws.receive_nothing(timeout=0.5)
        await ws.disconnect()

    _run(scenario)


@LIVE
def test_bearer_header_authenticates(owner: Any) -> None:
    device = make_hive(owner, "live-002")

    async def scenario() -> None:
        ws = WebsocketCommunicator(
            application,
            f"/ws/hive/{device.hive.id}/telemetry",
            headers=[(b"authorization", f"Bearer {_token(owner)}".encode())],
        )
        connected, _ = await ws.connect()
        assert connected
        assert await ws.receive_json_from(timeout=5) == {
            "type": "history",
            "hive": device.hive.id,
            "device_id": "live-002",
            "readings": [],
        }
        await ws.disconnect()

    _run(scenario)


@LIVE
@pytest.mark.parametrize("token", [None, "not-a-jwt", "expired"])
def test_missing_bad_or_expired_token_closes_4401(owner: Any, token: str | None) -> None:
    device = make_hive(owner, "live-003")
    if token == "expired":
        token = _token(owner, lifetime=-timedelta(seconds=1))
    query = f"?token={token}" if token else ""

    async def scenario() -> None:
        ws = WebsocketCommunicator(application, f"/ws/hive/{device.hive.id}/telemetry{query}")
        assert await _closed_with(ws) == 4401

    _run(scenario)


@LIVE
def test_unknown_or_foreign_hive_closes_4404(owner: Any) -> None:
    device = make_hive(owner, "live-004")
    bob = BeekeeperFactory(email="bob@example.com")

    async def scenario() -> None:
        foreign = WebsocketCommunicator(
            application, f"/ws/hive/{device.hive.id}/telemetry?token={_token(bob)}"
        )
        assert await _closed_with(foreign) == 4404
        unknown = WebsocketCommunicator(
            application, f"/ws/hive/999999/telemetry?token={_token(owner)}"
        )
        assert await _closed_with(unknown) == 4404

    _run(scenario)


@LIVE
def test_bob_never_receives_alices_readings(owner: Any) -> None:
    alice_device = make_hive(owner, "live-005")
    bob = BeekeeperFactory(email="bob@example.com")
    bob_device = make_hive(bob, "live-006")

    async def scenario() -> None:
        ws = WebsocketCommunicator(
            application, f"/ws/hive/{bob_device.hive.id}/telemetry?token={_token(bob)}"
        )
        await ws.connect()
        await ws.receive_json_from(timeout=5)
        await database_sync_to_async(readings_ingest)(
            device_id=alice_device.device_id, readings=[reading()]
        )
        assert await ws.receive_nothing(timeout=0.5)
        await ws.disconnect()

    _run(scenario)


@LIVE
def test_socket_closes_when_the_token_expires(owner: Any) -> None:
    device = make_hive(owner, "live-007")

    async def scenario() -> None:
        ws = WebsocketCommunicator(
            application,
            f"/ws/hive/{device.hive.id}/telemetry?token={_token(owner, timedelta(seconds=3))}",
        )
        await ws.connect()
        await ws.receive_json_from(timeout=5)
        output = await ws.receive_output(timeout=8)
        assert output == {"type": "websocket.close", "code": 4401}
        await ws.wait()

    _run(scenario)


@LIVE
def test_too_many_sockets_per_user_close_4429(owner: Any, settings: Any) -> None:
    settings.LIVE_MAX_SOCKETS_PER_USER = 2
    device = make_hive(owner, "live-008")
    url = f"/ws/hive/{device.hive.id}/telemetry?token={_token(owner)}"

    async def scenario() -> None:
        first, second = (
            WebsocketCommunicator(application, url),
            WebsocketCommunicator(application, url),
        )
        for ws in (first, second):
            await ws.connect()
            await ws.receive_json_from(timeout=5)
        assert await _closed_with(WebsocketCommunicator(application, url)) == 4429
        await first.disconnect()
        again = WebsocketCommunicator(application, url)
        await again.connect()
        assert (await again.receive_json_from(timeout=5))["type"] == "history"
        await again.disconnect()
        await second.disconnect()

    _run(scenario)


@LIVE
def test_foreign_browser_origin_is_refused(owner: Any) -> None:
    device = make_hive(owner, "live-009")

    async def scenario() -> None:
        ws = WebsocketCommunicator(
            application,
            f"/ws/hive/{device.hive.id}/telemetry?token={_token(owner)}",
            headers=[(b"origin", b"https://evil.example.com")],
        )
        connected, _ = await ws.connect()
        assert not connected

    _run(scenario)


@LIVE
def test_a_stuck_subscriber_never_blocks_ingestion_or_other_sockets(owner: Any) -> None:
    from channels.layers import get_channel_layer

    from monitoring.live import device_group

    device = make_hive(owner, "live-010")
    layer = get_channel_layer()

    async def scenario() -> None:
        # A subscriber that never reads: its channel fills up to the layer's capacity.
        stuck = await layer.new_channel()
        await layer.group_add(device_group("live-010"), stuck)
        ws = WebsocketCommunicator(
            application, f"/ws/hive/{device.hive.id}/telemetry?token={_token(owner)}"
        )
        await ws.connect()
        await ws.receive_json_from(timeout=5)
        batches = layer.capacity + 20
        for n in range(batches):
            result = await database_sync_to_async(readings_ingest)(
                # In the brood's range: a cold nest would (rightly) raise an alert too.
                device_id="live-010",
                readings=[reading(minutes=batches - n, temperature=34.0)],
            )
            assert result.accepted == 1
            assert (await ws.receive_json_from(timeout=5))["type"] == "readings"
        await ws.disconnect()

    _run(scenario)


@LIVE
def test_a_batch_overlapping_the_history_sends_only_the_new_readings_once(owner: Any) -> None:
    """The first live batch may hold readings that the history already showed (they
    landed between joining the group and reading the history): those are left out of
    that batch only. Every socket gets the batch encoded once by the publisher."""
    from monitoring.live import publish_readings

    device = make_hive(owner, "live-011")
    old = datetime.now(UTC) - timedelta(minutes=5)
    Reading.objects.create(device_id="live-011", time=old, temperature=31.0)
    shown = {"time": old.isoformat()[:-6] + "Z", "temperature": 31.0}
    new = {"time": minutes_ago(1), "temperature": 32.0}

    async def scenario() -> None:
        sockets = [
            WebsocketCommunicator(
                application, f"/ws/hive/{device.hive.id}/telemetry?token={_token(owner)}"
            )
            for _ in range(2)
        ]
        for ws in sockets:
            assert (await ws.connect())[0]
            history = await ws.receive_json_from(timeout=5)
            assert [r["temperature"] for r in history["readings"]] == [31.0]
        await database_sync_to_async(publish_readings)("live-011", [shown, new])
        for ws in sockets:
            first = await ws.receive_json_from(timeout=5)
            assert (first["type"], first["hive"], first["device_id"]) == (
                "readings",
                device.hive.id,
                "live-011",
            )
            assert first["readings"] == [new]
        await database_sync_to_async(publish_readings)("live-011", [shown, new])
        frames = [await ws.receive_from(timeout=5) for ws in sockets]
        assert frames[0] == frames[1]
        assert json.loads(frames[0])["readings"] == [shown, new]
        for ws in sockets:
            await ws.disconnect()

    _run(scenario)


@LIVE
def test_devices_whose_ids_differ_only_in_punctuation_never_share_a_stream(owner: Any) -> None:
    """gw:1, gw_1 and gw.1 once mapped to one channel group: bob's socket got alice's data."""
    ids = ["gw:1", "gw_1", "gw.1", "gw-1"]
    users = [owner] + [BeekeeperFactory(email=f"keeper{n}@example.com") for n in range(3)]
    devices = [make_hive(user, device_id) for user, device_id in zip(users, ids, strict=True)]

    async def scenario() -> None:
        sockets = []
        for user, device in zip(users, devices, strict=True):
            ws = WebsocketCommunicator(
                application, f"/ws/hive/{device.hive.id}/telemetry?token={_token(user)}"
            )
            assert (await ws.connect())[0]
            assert (await ws.receive_json_from(timeout=5))["type"] == "history"
            sockets.append(ws)
        await database_sync_to_async(readings_ingest)(
            device_id="gw:1", readings=[reading(minutes=1, temperature=33.0)]
        )
        pushed = await sockets[0].receive_json_from(timeout=5)
        assert (pushed["hive"], pushed["device_id"]) == (devices[0].hive.id, "gw:1")
        for other in sockets[1:]:
            assert await other.receive_nothing(timeout=0.3)
        for ws in sockets:
            await ws.disconnect()

    _run(scenario)


def _shared_with_a_viewer(owner: Any, device_id: str) -> tuple[Any, Any]:
    """A hive of ``owner``'s whose apiary is shared with a viewer: (device, viewer)."""
    from apiary import members

    device = make_hive(owner, device_id)
    viewer = BeekeeperFactory(email="viewer@example.com")
    members.member_invite(actor=owner, apiary=device.hive.apiary, email=viewer.email, role="viewer")
    return device, viewer


async def _following(device: Any, user: Any) -> WebsocketCommunicator:
    """A socket of ``user`` on the hive, past its history message."""
    ws = WebsocketCommunicator(
        application, f"/ws/hive/{device.hive.id}/telemetry?token={_token(user)}"
    )
    assert (await ws.connect())[0]
    assert (await ws.receive_json_from(timeout=5))["type"] == "history"
    return ws


@LIVE
def test_removing_a_member_closes_their_open_streams_of_that_apiary(owner: Any) -> None:
    from apiary import members
    from apiary.models import Membership

    device, viewer = _shared_with_a_viewer(owner, "live-shared")

    async def scenario() -> None:
        ws = await _following(device, viewer)
        membership = await database_sync_to_async(Membership.objects.get)(user=viewer)
        await database_sync_to_async(members.member_remove)(actor=owner, membership=membership)
        output = await ws.receive_output(timeout=5)
        assert output == {"type": "websocket.close", "code": 4404}
        # And a new socket is refused like any stranger's.
        again = WebsocketCommunicator(
            application, f"/ws/hive/{device.hive.id}/telemetry?token={_token(viewer)}"
        )
        assert await _closed_with(again) == 4404

    _run(scenario)


@LIVE
def test_a_deleted_hives_streams_close_before_its_device_id_can_go_elsewhere(owner: Any) -> None:
    from apiary import services

    device, viewer = _shared_with_a_viewer(owner, "live-moved")

    async def scenario() -> None:
        ws = await _following(device, viewer)
        # The owner deletes the hive (readings and device id stay hers) and may reuse the
        # id in an apiary the viewer has no role in: the viewer's socket must be gone.
        await database_sync_to_async(services.hive_delete)(hive=device.hive, actor=owner)
        assert await ws.receive_output(timeout=5) == {"type": "websocket.close", "code": 4404}

    _run(scenario)


@LIVE
def test_live_frames_do_not_queue_for_the_database_thread(owner: Any, monkeypatch: Any) -> None:
    """Channels' dispatch hands every message to the one sync thread first to close stale
    connections (aclose_old_connections); with 2,000 sockets on a hive that queue was the
    fan-out's largest cost. The consumer reaches the database only through
    database_sync_to_async, which closes them itself, so no message may take that hop."""
    import channels.consumer

    hops: list[int] = []
    real = channels.consumer.aclose_old_connections

    async def counted() -> None:
        hops.append(1)
        await real()

    monkeypatch.setattr(channels.consumer, "aclose_old_connections", counted)
    device = make_hive(owner, "live-hop-1")

    async def scenario() -> None:
        ws = WebsocketCommunicator(
            application, f"/ws/hive/{device.hive.id}/telemetry?token={_token(owner)}"
        )
        connected, _ = await ws.connect()
        assert connected
        assert (await ws.receive_json_from(timeout=5))["type"] == "history"
        for minutes in (3, 2, 1):
            await database_sync_to_async(readings_ingest)(
                device_id="live-hop-1", readings=[reading(minutes=minutes, temperature=30.0)]
            )
            assert (await ws.receive_json_from(timeout=5))["type"] == "readings"
        await ws.send_json_to({"type": "ping"})
        assert await ws.receive_json_from(timeout=5) == {"type": "pong"}
        await ws.disconnect()

    _run(scenario)
    assert hops == []


@LIVE
def test_one_layer_subscription_per_device_however_many_sockets(owner: Any) -> None:
    """The process's live hub joins a device's group once for all its sockets there, and
    leaves it with the last one: a batch is decoded and framed once per process, not once
    per socket (monitoring.live_hub)."""
    from channels.layers import get_channel_layer

    from monitoring.live import device_group

    device = make_hive(owner, "live-hub-1")
    layer = get_channel_layer()
    group = device_group("live-hub-1")

    async def scenario() -> None:
        sockets = [await _following(device, owner) for _ in range(3)]
        assert len(layer.groups.get(group, {})) == 1
        await database_sync_to_async(readings_ingest)(
            device_id="live-hub-1", readings=[reading(minutes=1, temperature=33.0)]
        )
        frames = [await ws.receive_from(timeout=5) for ws in sockets]
        assert len(set(frames)) == 1
        assert [r["temperature"] for r in json.loads(frames[0])["readings"]] == [33.0]
        for ws in sockets[:2]:
            await ws.disconnect()
        assert len(layer.groups.get(group, {})) == 1
        await sockets[2].disconnect()
        assert group not in layer.groups

    _run(scenario)


@LIVE
def test_a_batch_published_while_the_history_is_read_follows_the_history(
    owner: Any, monkeypatch: Any
) -> None:
    """A batch that reaches the socket before its history was sent is held back and sent
    after the history, without the readings the history already showed."""
    from monitoring import consumers, live

    device = make_hive(owner, "live-hub-2")
    old = datetime.now(UTC) - timedelta(minutes=5)
    Reading.objects.create(device_id="live-hub-2", time=old, temperature=31.0)
    shown = {"time": old.isoformat()[:-6] + "Z", "temperature": 31.0}
    new = {"time": minutes_ago(1), "temperature": 32.0}
    real_history = live.readings_history

    def history_with_a_batch_in_between(device_id: str) -> list[dict[str, Any]]:
        history = real_history(device_id)
        live.publish_readings(device_id, [shown, new])  # lands before the history is sent
        return history

    monkeypatch.setattr(consumers, "readings_history", history_with_a_batch_in_between)

    async def scenario() -> None:
        ws = WebsocketCommunicator(
            application, f"/ws/hive/{device.hive.id}/telemetry?token={_token(owner)}"
        )
        assert (await ws.connect())[0]
        history = await ws.receive_json_from(timeout=5)
        assert (history["type"], [r["temperature"] for r in history["readings"]]) == (
            "history",
            [31.0],
        )
        follow = await ws.receive_json_from(timeout=5)
        assert (follow["type"], follow["readings"]) == ("readings", [new])
        assert await ws.receive_nothing(timeout=0.3)
        await ws.disconnect()

    _run(scenario)


@LIVE
def test_no_frame_follows_the_close_of_a_revoked_stream(owner: Any) -> None:
    """Once a member's socket is closed (role removed), later batches go to the owner's
    socket only: the closed one leaves the live hub at once, not when the client answers
    the close."""
    from apiary import members
    from apiary.models import Membership

    device, viewer = _shared_with_a_viewer(owner, "live-hub-3")

    async def scenario() -> None:
        mine = await _following(device, owner)
        theirs = await _following(device, viewer)
        membership = await database_sync_to_async(Membership.objects.get)(user=viewer)
        await database_sync_to_async(members.member_remove)(actor=owner, membership=membership)
        assert await theirs.receive_output(timeout=5) == {"type": "websocket.close", "code": 4404}
        await database_sync_to_async(readings_ingest)(
            device_id="live-hub-3", readings=[reading(minutes=1, temperature=33.0)]
        )
        assert (await mine.receive_json_from(timeout=5))["type"] == "readings"
        assert await theirs.receive_nothing(timeout=0.3)
        await mine.disconnect()

    _run(scenario)


@LIVE
def test_a_session_cookie_authenticates_a_socket(owner: Any, client: Any) -> None:
    device = make_hive(owner, "live-session")
    client.force_login(owner)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()

    async def scenario() -> None:
        ws = WebsocketCommunicator(
            application, f"/ws/hive/{device.hive.id}/telemetry", headers=[(b"cookie", cookie)]
        )
        assert (await ws.connect())[0]
        assert (await ws.receive_json_from(timeout=5))["type"] == "history"
        await ws.disconnect()
        anonymous = WebsocketCommunicator(application, f"/ws/hive/{device.hive.id}/telemetry")
        assert await _closed_with(anonymous) == 4401

    _run(scenario)


def test_sockets_send_through_the_servers_own_send(transactional_db: None) -> None:
    """The session is read at connect only: Channels' session wrapper inspected the
    session on every frame a socket sent, a fifth of a fan-out's cost."""
    from monitoring.ws_auth import websocket_stack

    seen: list[Any] = []

    async def inner(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append((send, scope["session"]))

    async def server_send(message: dict[str, Any]) -> None:
        pass

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    scope = {
        "type": "websocket",
        "path": "/ws/alerts",
        "headers": [(b"cookie", b"sessionid=nothing-valid")],
        "query_string": b"",
    }
    async_to_sync(websocket_stack(inner))(scope, receive, server_send)
    [(send, session)] = seen
    assert send is server_send
    assert session.session_key is None  # an unknown session key reads as no session


def test_autobahn_formats_its_log_arguments_without_colours() -> None:
    """autobahn builds its debug messages' arguments even with debug logging off; with
    click installed each one went through click.style (beeapi.asgi turns that off)."""
    from autobahn.util import hl

    import beeapi.asgi  # noqa: F401

    assert hl("frame") == "frame"
