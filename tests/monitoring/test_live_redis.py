"""With Redis as the channel layer, a reading ingested by one server process reaches a
socket held by another."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from rest_framework_simplejwt.tokens import AccessToken
from websockets.sync.client import connect

from tests.accounts.factories import BeekeeperFactory
from tests.servers import daphne, database_url
from tests.telemetry.conftest import make_hive, reading

REDIS_URL = os.environ.get("BEEAPI_TEST_REDIS_URL")


@pytest.mark.skipif(
    not REDIS_URL, reason="no Redis for the test (make test starts one when it can)"
)
@pytest.mark.django_db(transaction=True, databases=["default", "telemetry"])
def test_reading_posted_to_one_process_reaches_a_socket_on_another(tmp_path: Path) -> None:
    owner: Any = BeekeeperFactory(email="alice@example.com")
    device = make_hive(owner, "redis-001")
    env = {
        "POSTGRES_URL": database_url("default"),
        "TIMESCALE_URL": database_url("telemetry"),
        "REDIS_URL": REDIS_URL or "",
    }
    with (
        daphne(env, tmp_path / "a.log") as ingest_server,
        daphne(env, tmp_path / "b.log") as stream_server,
    ):
        url = f"ws://127.0.0.1:{stream_server.port}/ws/hive/{device.hive.id}/telemetry?token={AccessToken.for_user(owner)}"
        with connect(url, open_timeout=10) as socket:
            assert json.loads(socket.recv(timeout=10))["type"] == "history"
            status, body = ingest_server.post_json(
                "/telemetry", reading(temperature=35.5), headers={"X-Device-Key": device.key}
            )
            assert status in (200, 201), body
            message = json.loads(socket.recv(timeout=5))
            assert message["type"] == "readings"
            assert [r["temperature"] for r in message["readings"]] == [35.5]
