"""Backups: `backup` dumps both databases separately, `restore` brings them back into
empty databases on another server, checked by checksum and row counts.

Real servers only: the round trip restores into a throwaway PostgreSQL server of this
module's own (TimescaleDB where the machine has it, plain with BEEAPI_TIMESCALEDB=off).
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import connections
from psycopg import sql

from apiary.models import Membership, Role
from beeapi.backups import find_tool, main_tables
from telemetry.services import readings_ingest
from telemetry.timescale import hourly_refresh
from telemetry.validation import iso_time
from tests.factories import ApiaryFactory, BeekeeperFactory, EventFactory, HiveFactory, QueenFactory
from tests.servers import ROOT, ThrowawayPostgres, localpg, throwaway_postgres

pytestmark = pytest.mark.django_db(databases=["default", "telemetry"], transaction=True)

_names = itertools.count(1)
HOURLY_SUM = "SELECT coalesce(sum(reading_count), 0) FROM readings_hourly"


@pytest.fixture(scope="module")
def spare_server() -> Iterator[ThrowawayPostgres]:
    """Another PostgreSQL server to restore into, like the machine a backup moves to."""
    with throwaway_postgres(database="postgres") as pg:
        yield pg


def empty_databases(pg: ThrowawayPostgres, *, extension: bool = True) -> dict[str, str]:
    """Two new empty databases on ``pg``, created as `make run` creates them (the telemetry
    one with the TimescaleDB extension where the server has it, unless not ``extension``);
    their URLs."""
    n = next(_names)
    admin_url = pg.server.url(pg.port, "postgres")
    entity, telemetry = f"restored_{n}", f"restored_{n}_telemetry"
    localpg.ensure_database(admin_url, entity, timescaledb=False)
    localpg.ensure_database(
        admin_url, telemetry, timescaledb=extension and pg.server.timescaledb_packaged
    )
    return {
        "POSTGRES_URL": pg.server.url(pg.port, entity),
        "TIMESCALE_URL": pg.server.url(pg.port, telemetry),
    }


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "beeapi.settings_test", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def counts_at(url: str, tables: tuple[str, ...]) -> dict[str, int]:
    with psycopg.connect(url, connect_timeout=10) as conn:
        return {
            t: conn.execute(
                sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(t))
            ).fetchone()[0]
            for t in tables
        }


def source_counts() -> dict[str, dict[str, int]]:
    result = {}
    for alias, tables in main_tables().items():
        with connections[alias].cursor() as cursor:
            result[alias] = {}
            for table in tables:
                cursor.execute(f'SELECT count(*) FROM "{table}"')
                result[alias][table] = cursor.fetchone()[0]
    return result


def populate(telemetry_mode: str | None) -> None:
    """Some of everything in both databases; in TimescaleDB mode with compressed chunks."""
    alice, bob = BeekeeperFactory(), BeekeeperFactory()
    apiary = ApiaryFactory(owner=alice)
    hives = HiveFactory.create_batch(3, apiary=apiary)
    QueenFactory(hive=hives[0])
    EventFactory.create_batch(4, hive=hives[1])
    Membership.objects.create(apiary=apiary, user=bob, email=bob.email, role=Role.VIEWER)
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    for hive in hives:
        readings = [
            {"time": iso_time(now - timedelta(hours=6 * i)), "temperature": 34.5, "weight": 40.0}
            for i in range(80)  # 20 days: several chunks, the older ones compressible
        ]
        assert readings_ingest(device_id=hive.device_id, readings=readings).accepted == 80
    if telemetry_mode:
        # As in production, where the refresh policy has materialized the hourly rows.
        hourly_refresh(now - timedelta(days=30), now + timedelta(hours=1))
        with connections["telemetry"].cursor() as cursor:
            cursor.execute(
                "SELECT count(compress_chunk(c, if_not_compressed => true))"
                " FROM show_chunks('readings', older_than => INTERVAL '8 days') c"
            )
            assert cursor.fetchone()[0] >= 1


def test_round_trip_into_fresh_databases(
    tmp_path: Path, spare_server: ThrowawayPostgres, telemetry_mode: str | None
) -> None:
    populate(telemetry_mode)
    expected = source_counts()
    with connections["telemetry"].cursor() as cursor:
        cursor.execute(HOURLY_SUM)
        hourly_before = cursor.fetchone()[0]
    backup_dir = tmp_path / "backup"
    call_command("backup", "--to", str(backup_dir))

    manifest = json.loads((backup_dir / "manifest.json").read_text())
    assert manifest["created_at"] and manifest["beeapi_version"]
    for alias in ("default", "telemetry"):
        entry = manifest["databases"][alias]
        assert entry["file"] == f"{alias}.dump"
        assert entry["size_bytes"] == (backup_dir / entry["file"]).stat().st_size
        assert len(entry["sha256"]) == 64
        assert entry["database"] == connections[alias].settings_dict["NAME"]
        assert entry["server_version"]
        assert entry["row_counts"] == expected[alias]
    assert manifest["databases"]["default"]["timescaledb"] is None
    assert manifest["databases"]["telemetry"]["timescaledb"] == telemetry_mode
    assert expected["telemetry"]["readings"] == 240

    # Bare databases: restore creates the extension in the version dumped.
    env = empty_databases(spare_server, extension=False)
    result = manage(env, "restore", "--from", str(backup_dir))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "row counts match" in result.stdout

    assert counts_at(env["POSTGRES_URL"], main_tables()["default"]) == expected["default"]
    assert counts_at(env["TIMESCALE_URL"], main_tables()["telemetry"]) == expected["telemetry"]
    with psycopg.connect(env["TIMESCALE_URL"]) as conn:
        version = conn.execute(
            "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'"
        ).fetchone()
        assert (version[0] if version else None) == telemetry_mode
        assert conn.execute(HOURLY_SUM).fetchone()[0] == hourly_before
        if telemetry_mode:
            # Still a compressed hypertable, no longer in restoring mode.
            assert (
                conn.execute(
                    "SELECT count(*) FROM timescaledb_information.chunks"
                    " WHERE hypertable_name = 'readings' AND is_compressed"
                ).fetchone()[0]
                >= 1
            )
            assert conn.execute("SHOW timescaledb.restoring").fetchone()[0] == "off"
    # The restored databases are fully migrated: BeeAPI runs on them as it is.
    check = manage(env, "migrate", "--check")
    assert check.returncode == 0, check.stdout + check.stderr


def test_backup_refuses_a_non_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("keep me")
    with pytest.raises(CommandError, match="not empty"):
        call_command("backup", "--to", str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    call_command("backup", "--to", str(tmp_path), "--force")
    assert (tmp_path / "manifest.json").is_file()
    assert (tmp_path / "notes.txt").read_text() == "keep me"


def test_restore_refuses_a_non_empty_database(tmp_path: Path) -> None:
    HiveFactory()
    before = source_counts()
    call_command("backup", "--to", str(tmp_path))
    # The test's own databases are migrated and hold data: restore must not touch them.
    with pytest.raises(CommandError, match="is not empty") as excinfo:
        call_command("restore", "--from", str(tmp_path))
    assert "[default]" in str(excinfo.value)
    assert source_counts() == before


def test_restore_refuses_a_tampered_dump(tmp_path: Path, spare_server: ThrowawayPostgres) -> None:
    HiveFactory()
    call_command("backup", "--to", str(tmp_path))
    dump = tmp_path / "telemetry.dump"
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, different content
    dump.write_bytes(bytes(data))

    env = empty_databases(spare_server)
    result = manage(env, "restore", "--from", str(tmp_path))
    assert result.returncode != 0
    assert "telemetry.dump: sha256 mismatch" in result.stderr
    for url in env.values():  # nothing was restored, not even the untampered dump
        with psycopg.connect(url) as conn:
            assert (
                conn.execute(
                    "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
                ).fetchone()[0]
                == 0
            )


def test_restore_fails_when_row_counts_differ(
    tmp_path: Path, spare_server: ThrowawayPostgres
) -> None:
    HiveFactory()
    call_command("backup", "--to", str(tmp_path))
    manifest_path = tmp_path / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["databases"]["default"]["row_counts"]["hives"] += 1
    manifest_path.write_text(json.dumps(manifest))

    env = empty_databases(spare_server)
    result = manage(env, "restore", "--from", str(tmp_path))
    assert result.returncode != 0
    assert "[default] hives: manifest 2 rows, restored 1" in result.stderr


@pytest.mark.timescaledb
def test_restore_refuses_a_timescaledb_dump_into_a_plain_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    HiveFactory()
    call_command("backup", "--to", str(tmp_path))
    monkeypatch.setenv("BEEAPI_TIMESCALEDB", "off")  # this server does not preload it
    plain = ThrowawayPostgres(database="postgres")
    try:
        plain.start()
        env = empty_databases(plain)
        result = manage(env, "restore", "--from", str(tmp_path))
    finally:
        plain.stop()
        shutil.rmtree(plain.scratch, ignore_errors=True)
    assert result.returncode != 0
    assert "cannot run TimescaleDB" in result.stderr, result.stderr


@pytest.mark.timescaledb
def test_restore_refuses_a_plain_telemetry_dump_into_timescaledb(
    tmp_path: Path, spare_server: ThrowawayPostgres
) -> None:
    call_command("backup", "--to", str(tmp_path))
    manifest_path = tmp_path / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["databases"]["telemetry"]["timescaledb"] = None  # as a plain server's backup
    manifest_path.write_text(json.dumps(manifest))
    env = empty_databases(spare_server)  # the telemetry database has the extension
    result = manage(env, "restore", "--from", str(tmp_path))
    assert result.returncode != 0
    assert "made without TimescaleDB" in result.stderr, result.stderr


def test_a_missing_or_too_old_pg_dump_is_a_clear_error() -> None:
    with pytest.raises(CommandError, match="pg_dump of PostgreSQL 99 or newer is needed"):
        find_tool("pg_dump", 99)


def test_every_data_table_is_counted_on_the_alias_that_holds_it() -> None:
    """The manifest's row counts (and restore's check) come from the models: the alerts'
    tables are counted too, and a new model needs no list to be kept."""
    tables = main_tables()
    assert {"alert_rules", "alerts", "webhooks", "alert_deliveries", "inspections"} <= set(
        tables["default"]
    )
    assert {"users", "apiaries", "hives", "queen_bees", "events", "devices"} <= set(
        tables["default"]
    )
    assert tables["telemetry"] == ("calibrations", "readings")
