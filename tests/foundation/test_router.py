"""The database router keeps entities and readings on their own databases."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from django.apps import apps
from django.db import connections

from beeapi.db_router import TelemetryRouter
from tests.servers import ROOT, database_url

ENTITY_TABLES = {"users", "apiaries", "hives", "queen_bees", "events"}


def _tables(alias: str) -> set[str]:
    with connections[alias].cursor() as cursor:
        cursor.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        )
        return {row[0] for row in cursor.fetchall()}


@pytest.mark.django_db(databases=["default", "telemetry"])
def test_entity_tables_only_in_entity_database_and_readings_only_in_telemetry() -> None:
    entity, telemetry = _tables("default"), _tables("telemetry")
    assert ENTITY_TABLES <= entity
    assert "readings" in telemetry
    assert not ENTITY_TABLES & telemetry
    assert "readings" not in entity
    assert "readings_hourly" not in entity


def test_router_sends_models_to_their_database() -> None:
    router = TelemetryRouter()
    reading = apps.get_model("telemetry", "Reading")
    for label in (
        "accounts.User",
        "apiary.Apiary",
        "apiary.Hive",
        "apiary.QueenBee",
        "apiary.Event",
    ):
        model = apps.get_model(label)
        assert router.db_for_read(model) == "default"
        assert router.db_for_write(model) == "default"
    assert router.db_for_read(reading) == "telemetry"
    assert router.db_for_write(reading) == "telemetry"


def test_router_migrates_each_app_on_its_own_database_only() -> None:
    router = TelemetryRouter()
    assert router.allow_migrate("telemetry", "telemetry") is True
    assert router.allow_migrate("default", "telemetry") is False
    assert router.allow_migrate("default", "apiary") is True
    assert router.allow_migrate("telemetry", "apiary") is False
    assert router.allow_migrate("telemetry", "auth") is False


def test_router_refuses_relations_across_databases() -> None:
    router = TelemetryRouter()
    reading = apps.get_model("telemetry", "Reading")(device_id="x")
    hive = apps.get_model("apiary", "Hive")(device_id="x")
    apiary = apps.get_model("apiary", "Apiary")()
    assert router.allow_relation(hive, reading) is False
    assert router.allow_relation(hive, apiary) is True


def test_relations_to_the_request_user_wrapper_are_allowed() -> None:
    # The admin relates a new apiary to request.user, a SimpleLazyObject: a 500 once.
    from django.utils.functional import SimpleLazyObject

    from accounts.models import User

    lazy_user = SimpleLazyObject(lambda: User(email="lazy@example.com"))
    from apiary.models import Apiary

    assert TelemetryRouter().allow_relation(Apiary(name="x"), lazy_user) is True


# --- Single-database mode: readings beside the entity tables ------------------------------


def test_single_database_mode_migrates_every_app_on_either_alias(settings) -> None:  # noqa: ANN001
    # Both aliases share one django_migrations table: an app skipped on one alias would be
    # recorded as applied there and never created on the other.
    settings.TELEMETRY_SAME_DATABASE = True
    router = TelemetryRouter()
    for app_label in ("telemetry", "apiary", "accounts", "auth", "contenttypes"):
        assert router.allow_migrate("default", app_label) is True
        assert router.allow_migrate("telemetry", app_label) is True
    reading = apps.get_model("telemetry", "Reading")
    assert router.db_for_write(reading) == "telemetry"
    assert router.db_for_read(apps.get_model("apiary", "Hive")) == "default"


def _settings_in_subprocess(env: dict[str, str | None]) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if k not in env}
    full.update({k: v for k, v in env.items() if v is not None})
    full["DJANGO_SETTINGS_MODULE"] = "beeapi.settings_test"
    code = (
        "import django; django.setup(); from django.conf import settings as s;"
        " print(s.TELEMETRY_SAME_DATABASE, s.DATABASES['telemetry']['NAME'],"
        " s.DATABASES['telemetry']['PORT'])"
    )
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=full, capture_output=True, text=True
    )


ONE = "postgresql://u:p@db.example:5432/bees"
OTHER = "postgresql://u:p@ts.example:5433/bees_telemetry"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"POSTGRES_URL": ONE, "TIMESCALE_URL": OTHER}, "False bees_telemetry 5433"),
        ({"POSTGRES_URL": ONE, "TIMESCALE_URL": ONE}, "True bees 5432"),
        (
            {"POSTGRES_URL": ONE, "TIMESCALE_URL": None, "TELEMETRY_SAME_DATABASE": "true"},
            "True bees 5432",
        ),
        (
            {"POSTGRES_URL": ONE, "TIMESCALE_URL": ONE, "TELEMETRY_SAME_DATABASE": "true"},
            "True bees 5432",
        ),
    ],
)
def test_settings_choose_single_database_mode(env: dict, expected: str) -> None:
    result = _settings_in_subprocess({"TELEMETRY_SAME_DATABASE": None, **env})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"POSTGRES_URL": ONE, "TIMESCALE_URL": OTHER, "TELEMETRY_SAME_DATABASE": "true"},
            "TELEMETRY_SAME_DATABASE=true needs TIMESCALE_URL unset",
        ),
        (
            {"POSTGRES_URL": ONE, "TIMESCALE_URL": ONE, "TELEMETRY_SAME_DATABASE": "false"},
            "TELEMETRY_SAME_DATABASE=false but TIMESCALE_URL names the database",
        ),
    ],
)
def test_contradictory_single_database_settings_are_refused(env: dict, message: str) -> None:
    result = _settings_in_subprocess(env)
    assert result.returncode != 0
    assert message in result.stderr


SAME_DB_CHECK = """
import json
from datetime import UTC, datetime, timedelta
from django.db import connections
from beeapi.health import health_report
from telemetry import selectors
from telemetry.services import readings_ingest

def tables(alias):
    with connections[alias].cursor() as c:
        c.execute("SELECT current_database(), to_regclass('readings') IS NOT NULL,"
                  " to_regclass('hives') IS NOT NULL, to_regclass('readings_hourly') IS NOT NULL")
        return c.fetchone()

now = datetime.now(UTC).replace(microsecond=0)
batch = [{"time": (now - timedelta(minutes=m)).isoformat(), "temperature": 35.0 + m}
         for m in range(3)]
first = readings_ingest(device_id="same-db-1", readings=batch)
again = readings_ingest(device_id="same-db-1", readings=batch)
hour = now.replace(minute=0, second=0)
raw = selectors.readings_list(device_id="same-db-1", start=now - timedelta(hours=1), limit=100)
hourly = selectors.readings_hourly_list(device_id="same-db-1", start=hour - timedelta(hours=2))
healthy, report = health_report()
print(json.dumps({
    "default": tables("default"), "telemetry": tables("telemetry"),
    "accepted": first.accepted, "duplicates": again.duplicates,
    "raw": len(list(raw)),
    "hourly_count": sum(h[selectors.HOURLY_COLUMNS.index("reading_count")] for h in hourly),
    "healthy": healthy,
    "description": report["databases"]["telemetry"]["timescaledb"]["description"],
}))
"""


def _admin_url() -> str:
    return database_url("default").rsplit("/", 1)[0] + "/postgres"


@pytest.fixture
def fresh_database() -> Iterator[str]:
    name = f"beeapi_single_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(_admin_url(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield database_url("default").rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(_admin_url(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _manage(env: dict[str, str | None], *args: str) -> str:
    full = {k: v for k, v in os.environ.items() if k not in env}
    full.update({k: v for k, v in env.items() if v is not None})
    full["DJANGO_SETTINGS_MODULE"] = "beeapi.settings_test"
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=full,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.mark.parametrize(
    ("order", "same_flag"),
    [(("default", "telemetry"), False), (("telemetry", "default"), True)],
    ids=["default-first-urls-equal", "telemetry-first-flag"],
)
def test_single_database_install_migrates_ingests_and_queries(
    fresh_database: str, order: tuple[str, str], same_flag: bool
) -> None:
    env: dict[str, str | None] = {"POSTGRES_URL": fresh_database}
    if same_flag:
        env.update({"TIMESCALE_URL": None, "TELEMETRY_SAME_DATABASE": "true"})
    else:
        env.update({"TIMESCALE_URL": fresh_database, "TELEMETRY_SAME_DATABASE": None})
    for alias in order:
        _manage(env, "migrate", "--database", alias, "--no-input")
    plan = _manage(env, "showmigrations", "--plan", "--database", "telemetry")
    assert "[ ]" not in plan
    result = json.loads(_manage(env, "shell", "-c", SAME_DB_CHECK).strip().splitlines()[-1])
    name = fresh_database.rsplit("/", 1)[1]
    assert result["default"] == [name, True, True, True]
    assert result["telemetry"] == [name, True, True, True]
    assert result["accepted"] == 3 and result["duplicates"] == 3
    assert result["raw"] == 3 and result["hourly_count"] == 3
    assert result["healthy"] is True
    assert "single-database mode" in result["description"]


@pytest.mark.django_db(databases=["default", "telemetry"])
@pytest.mark.parametrize("alias", ["default", "telemetry"])
def test_connections_run_without_jit(alias: str) -> None:
    """A year of daily figures spent 2 of its 2.9 s compiling JIT code."""
    with connections[alias].cursor() as cursor:
        cursor.execute("SHOW jit")
        assert cursor.fetchone()[0] == "off"
