"""A telemetry outage: telemetry answers 503 JSON, entity endpoints keep working, and
everything recovers by itself once the server is back (no daphne restart)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rest_framework_simplejwt.tokens import RefreshToken

from telemetry.validation import iso_time
from tests.servers import Daphne, daphne, database_url, throwaway_postgres
from tests.telemetry.conftest import make_hive


def until_not_503(server: Daphne, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
    """The pool reconnects on its own, with a short back-off: poll a bounded while."""
    deadline = time.monotonic() + 40
    while True:
        status, body = server.get(path, headers)
        if status != 503 or time.monotonic() > deadline:
            return status, body
        time.sleep(0.5)


@pytest.mark.django_db(databases=["default", "telemetry"], transaction=True)
def test_telemetry_is_503_while_its_server_is_down_and_recovers(alice, tmp_path: Path) -> None:
    device = make_hive(alice, "hive-outage-1")
    auth = {"Authorization": f"Bearer {RefreshToken.for_user(alice).access_token}"}
    telemetry_path = f"/hives/{device.hive.pk}/telemetry"
    reading = {"time": iso_time(datetime.now(UTC)), "temperature": 35.0}
    with throwaway_postgres() as telemetry_pg:
        env = {"POSTGRES_URL": database_url("default"), "TIMESCALE_URL": telemetry_pg.url}
        with daphne(env, tmp_path / "daphne.log") as server:
            server.manage("migrate", "--database", "telemetry", "--no-input")
            status, body = server.post_json("/telemetry", reading, {"X-Device-Key": device.key})
            assert status == 201, body
            status, body = server.get(telemetry_path, auth)
            assert status == 200, body
            assert len(json.loads(body)["results"]) == 1

            telemetry_pg.stop()
            for path in (telemetry_path, f"{telemetry_path}/hourly", f"{telemetry_path}/latest"):
                status, body = server.get(path, auth)
                assert status == 503, (path, body)
                assert json.loads(body)["code"] == "database_unavailable"
            status, body = server.post_json("/telemetry", reading, {"X-Device-Key": device.key})
            assert status == 503 and json.loads(body)["code"] == "database_unavailable"
            # Endpoints on the entity database keep working.
            status, body = server.get("/users/me", auth)
            assert status == 200, body

            telemetry_pg.start()
            status, body = until_not_503(server, telemetry_path, auth)
            assert status == 200, body
            assert len(json.loads(body)["results"]) == 1
            status, body = server.post_json("/telemetry", reading, {"X-Device-Key": device.key})
            assert status == 200 and json.loads(body) == {"accepted": 0, "duplicates": 1}
