"""A telemetry outage degrades only what needs it, and recovers without a restart."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.servers import daphne, database_url, throwaway_postgres


@pytest.mark.django_db(databases=["default", "telemetry"], transaction=True)
def test_health_answers_503_while_telemetry_is_down_and_recovers(tmp_path: Path) -> None:
    with throwaway_postgres() as telemetry_pg:
        env = {"POSTGRES_URL": database_url("default"), "TIMESCALE_URL": telemetry_pg.url}
        with daphne(env, tmp_path / "daphne.log") as server:
            server.manage("migrate", "--database", "telemetry", "--no-input")
            status, body = server.get("/health")
            assert status == 200, body

            telemetry_pg.stop()
            status, body = server.get("/health")
            assert status == 503
            report = json.loads(body)
            assert report["status"] == "degraded"
            assert report["databases"]["default"]["reachable"] is True
            assert report["databases"]["telemetry"]["reachable"] is False
            # Pages that need only the entity database keep working.
            assert server.get("/admin/login/")[0] == 200

            telemetry_pg.start()
            status, body = server.get("/health")
            assert status == 200, body
            assert json.loads(body)["databases"]["telemetry"]["reachable"] is True
