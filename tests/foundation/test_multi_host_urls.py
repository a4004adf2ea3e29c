"""POSTGRES_URL and TIMESCALE_URL may name several hosts (a pg_auto_failover formation,
docs/scaling.md "Failover"): libpq tries them in turn and, with
``target_session_attrs=read-write``, keeps the one that takes writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from devtools import localpg
from tests.servers import throwaway_postgres, throwaway_replica

ROOT = Path(__file__).resolve().parent.parent.parent


def _run(env: dict[str, str], code: str) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if k not in {"TELEMETRY_SAME_DATABASE"}}
    full.update(env)
    full["DJANGO_SETTINGS_MODULE"] = "beeapi.settings_test"
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); " + code],
        cwd=ROOT,
        env=full,
        capture_output=True,
        text=True,
        timeout=60,
    )


SHOW = (
    "import json; from django.conf import settings as s; print(json.dumps({a: [d['HOST'],"
    " d['PORT'], d['NAME'], d['USER'], d['OPTIONS']] for a, d in s.DATABASES.items()}))"
)


def test_multi_host_urls_become_libpq_host_and_port_lists() -> None:
    result = _run(
        {
            "POSTGRES_URL": "postgresql://u:p@db-a:5432,db-b:6432/bees"
            "?target_session_attrs=read-write",
            "TIMESCALE_URL": "postgresql://u:p@ts-a,[::1]:5433/bees_ts?sslmode=require",
        },
        SHOW,
    )
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    host, port, name, user, options = shown["default"]
    assert (host, port, name, user) == ("db-a,db-b", "5432,6432", "bees", "u")
    # The URL's parameters reach libpq beside BeeAPI's own connection options.
    assert options["target_session_attrs"] == "read-write"
    assert options["options"] == "-c jit=off" and options["pool"]["max_size"] >= 1
    host, port, name, _, options = shown["telemetry"]
    # A host without a port gets the default one, so the lists stay aligned.
    assert (host, port, name) == ("ts-a,::1", "5432,5433", "bees_ts")
    assert options["sslmode"] == "require"


def test_a_one_host_url_is_parsed_as_before() -> None:
    result = _run(
        {
            "POSTGRES_URL": "postgresql://u:p@db.example:5432/bees",
            "TIMESCALE_URL": "postgresql://u:p@ts.example/bees_ts",
        },
        SHOW,
    )
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["default"][:3] == ["db.example", 5432, "bees"]
    assert shown["telemetry"][:3] == ["ts.example", "", "bees_ts"]
    assert "target_session_attrs" not in shown["default"][4]


QUERY = (
    "from django.db import connections; c = connections['telemetry'].cursor();"
    " c.execute('SELECT pg_is_in_recovery(), inet_server_port()'); print(*c.fetchone())"
)


@pytest.mark.django_db(databases=["default"])
def test_read_write_urls_pass_a_dead_host_and_a_standby_to_reach_the_primary() -> None:
    dead_port = localpg.free_port()
    with throwaway_postgres() as primary, throwaway_replica(primary) as standby:
        user = f"{localpg.USER}:{localpg.PASSWORD}"
        url = (
            f"postgresql://{user}@127.0.0.1:{dead_port},127.0.0.1:{standby.port},"
            f"127.0.0.1:{primary.port}/{primary.database}?target_session_attrs=read-write"
        )
        result = _run({"TIMESCALE_URL": url}, QUERY)
        assert result.returncode == 0, result.stderr
        assert result.stdout.split() == ["False", str(primary.port)]
        # Without the attribute libpq keeps the first host that answers: the standby.
        result = _run({"TIMESCALE_URL": url.split("?")[0]}, QUERY)
        assert result.returncode == 0, result.stderr
        assert result.stdout.split() == ["True", str(standby.port)]
