"""Alerts on the live streams: WS /ws/alerts (the user's) and the hive's stream."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from rest_framework_simplejwt.tokens import AccessToken

from alerts import services
from beeapi.asgi import application
from tests.alerts.conftest import FLOW, day_start, replay
from tests.factories import HiveFactory


def _ws(path: str, user: Any | None = None, token: str | None = None) -> WebsocketCommunicator:
    if user is not None:
        token = str(AccessToken.for_user(user))
    query = f"?token={token}" if token else ""
    return WebsocketCommunicator(application, f"{path}{query}")


def _silence(device_id: str) -> None:
    start = day_start()
    replay(device_id, start, 10)
    services.no_data_check(now=start + timedelta(minutes=75))


@FLOW
def test_a_new_alert_reaches_its_users_socket_and_the_hives_and_not_another_users(alice, bob):
    hive = HiveFactory(apiary__owner=alice, name="Hive 3", device_id="live-alert")

    async def scenario() -> None:
        mine = _ws("/ws/alerts", alice)
        theirs = _ws("/ws/alerts", bob)
        stream = _ws(f"/ws/hive/{hive.pk}/telemetry", alice)
        for ws in (mine, theirs, stream):
            assert (await ws.connect())[0]
        assert await mine.receive_json_from(timeout=5) == {"type": "open", "alerts": []}
        assert (await theirs.receive_json_from(timeout=5))["type"] == "open"
        assert (await stream.receive_json_from(timeout=5))["type"] == "history"

        await database_sync_to_async(_silence)("live-alert")

        message = await mine.receive_json_from(timeout=5)
        assert message["type"] == "alert" and message["hive"] == hive.pk
        assert message["alert"]["kind"] == "no_data" and message["alert"]["status"] == "open"
        on_hive = []
        while len(on_hive) < 1:
            received = await stream.receive_json_from(timeout=5)
            if received["type"] == "alert":
                on_hive.append(received)
        assert on_hive[0]["alert"]["id"] == message["alert"]["id"]
        assert await theirs.receive_nothing(timeout=0.5)

        # Reopening the stream lists the active alert first.
        again = _ws("/ws/alerts", alice)
        await again.connect()
        opened = await again.receive_json_from(timeout=5)
        assert [a["id"] for a in opened["alerts"]] == [message["alert"]["id"]]
        for ws in (mine, theirs, stream, again):
            await ws.disconnect()

    async_to_sync(scenario)()


@FLOW
def test_a_member_watching_the_hive_does_not_get_the_owners_alerts(alice, bob):
    from apiary.models import Membership

    hive = HiveFactory(apiary__owner=alice, name="Hive 3", device_id="shared-alert")
    Membership.objects.create(apiary=hive.apiary, user=bob, email=bob.email, role="viewer")

    async def scenario() -> None:
        owner = _ws(f"/ws/hive/{hive.pk}/telemetry", alice)
        member = _ws(f"/ws/hive/{hive.pk}/telemetry", bob)
        for ws in (owner, member):
            assert (await ws.connect())[0]
            assert (await ws.receive_json_from(timeout=5))["type"] == "history"
        await database_sync_to_async(_silence)("shared-alert")

        async def next_alert(ws: WebsocketCommunicator) -> dict:
            while True:
                message = await ws.receive_json_from(timeout=5)
                if message["type"] == "alert":
                    return message

        assert (await next_alert(owner))["alert"]["kind"] == "no_data"
        # The member got the readings, never the owner's alert.
        while not await member.receive_nothing(timeout=0.5):
            assert (await member.receive_json_from())["type"] == "readings"
        for ws in (owner, member):
            await ws.disconnect()

    async_to_sync(scenario)()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("token", [None, "not-a-token"])
def test_the_alert_stream_needs_a_valid_token(token):
    async def scenario() -> None:
        ws = _ws("/ws/alerts", token=token)
        connected, _ = await ws.connect()
        assert connected
        output = await ws.receive_output(timeout=5)
        assert output["type"] == "websocket.close" and output["code"] == 4401

    async_to_sync(scenario)()
