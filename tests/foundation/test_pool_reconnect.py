"""After a long outage the pools find the server again within seconds of its return,
not after a back-off that grew with the outage: what a failover needs, where the new
primary appears while the pools are retrying. DB_POOL_RECONNECT_TIMEOUT caps how long a
pool retries in the background before leaving the next attempt to the next request; the
failover drill (tests/foundation/test_failover_drill.py) measures its effect."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connections

from tests.servers import daphne, database_url, throwaway_postgres

OUTAGE_S = 17  # psycopg_pool's own back-off would try at 15 s, then not before 31 s


@pytest.mark.django_db(databases=["default", "telemetry"])
@pytest.mark.parametrize("alias", ["default", "telemetry"])
def test_the_pools_give_up_background_retries_after_the_setting(alias: str) -> None:
    assert connections[alias].pool.reconnect_timeout == settings.DB_POOL_RECONNECT_TIMEOUT == 5


@pytest.mark.django_db(databases=["default", "telemetry"], transaction=True)
def test_the_pool_reconnects_within_seconds_after_a_long_outage(tmp_path: Path) -> None:
    with throwaway_postgres() as telemetry_pg:
        env = {"POSTGRES_URL": database_url("default"), "TIMESCALE_URL": telemetry_pg.url}
        with daphne(env, tmp_path / "daphne.log") as server:
            assert server.get("/health")[0] == 200
            telemetry_pg.stop()
            down_until = time.monotonic() + OUTAGE_S
            while time.monotonic() < down_until:  # requests keep coming, as devices do
                assert server.get("/health")[0] == 503
                time.sleep(0.5)
            telemetry_pg.start()
            back = time.monotonic()
            while server.get("/health")[0] != 200:
                assert time.monotonic() - back < 6, "the pool did not reconnect in 6 s"
                time.sleep(0.2)
