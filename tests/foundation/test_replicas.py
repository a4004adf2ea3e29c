"""Read replicas: reads go to a streaming replica, writes and transactions to the primary,
with read-your-writes, and back to the primary when a replica lags or is down.

The last test runs the real thing: a throwaway primary, a streaming replica made from it
with ``pg_basebackup -R`` (both on 127.0.0.1), and BeeAPI under daphne pointed at both.
The others check the router, the middleware and the settings without servers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.core.cache import caches
from django.db import OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.test import RequestFactory

from beeapi import replicas
from beeapi.db_router import TelemetryRouter
from beeapi.middleware import ReadReplicaMiddleware
from devtools import localpg
from tests.servers import ROOT, daphne, database_url, throwaway_postgres, throwaway_replica

REPLICAS = {"default": ["default_replica_1"], "telemetry": ["telemetry_replica_1"]}


@pytest.fixture
def with_replicas(settings: Any) -> Iterator[None]:
    """Replica aliases in the settings (never connected to: their states are set by hand)."""
    settings.DATABASE_REPLICAS = REPLICAS
    settings.REPLICA_CHECK_SECONDS = 3600
    settings.READ_YOUR_WRITES_SECONDS = 5
    replicas.monitor.forget()
    caches[replicas.CACHE_ALIAS].clear()
    for primary, aliases in REPLICAS.items():
        for alias in aliases:
            replicas.monitor.set_status(_status(alias, primary, replicas.OK, lag=0.0))
    yield
    replicas.monitor.forget()
    caches[replicas.CACHE_ALIAS].clear()


def _status(alias: str, primary: str, state: str, lag: float | None = None) -> Any:
    return replicas.ReplicaStatus(
        alias=alias, primary=primary, state=state, lag_seconds=lag, checked_at=time.monotonic()
    )


HIVE = "apiary.Hive"
READING = "telemetry.Reading"


def _read(label: str = HIVE) -> str:
    return TelemetryRouter().db_for_read(apps.get_model(label))


# --- Router --------------------------------------------------------------------------------


def test_without_replicas_reads_use_the_primaries(settings: Any) -> None:
    settings.DATABASE_REPLICAS = {"default": [], "telemetry": []}
    with replicas.reading(True):
        assert _read(HIVE) == "default"
        assert _read(READING) == "telemetry"


def test_a_read_only_request_reads_a_replica_of_the_right_primary(with_replicas: None) -> None:
    with replicas.reading(True):
        assert _read(HIVE) == "default_replica_1"
        assert _read(READING) == "telemetry_replica_1"


def test_outside_a_request_reads_use_the_primary(with_replicas: None) -> None:
    # Management commands, workers, WebSocket consumers, the shell.
    assert _read(HIVE) == "default"
    assert _read(READING) == "telemetry"


def test_writes_go_to_the_primary_and_later_reads_of_the_request_too(with_replicas: None) -> None:
    router = TelemetryRouter()
    with replicas.reading(True) as state:
        assert _read(HIVE) == "default_replica_1"
        assert router.db_for_write(apps.get_model(HIVE)) == "default"
        assert router.db_for_write(apps.get_model(READING)) == "telemetry"
        assert state.wrote is True
        assert _read(HIVE) == "default"
        assert _read(READING) == "telemetry"


@pytest.mark.django_db
def test_reads_inside_a_transaction_on_the_primary_use_the_primary(with_replicas: None) -> None:
    from django.db import connections, transaction

    with transaction.atomic(), replicas.reading(True):
        assert connections["default"].in_atomic_block
        assert _read(HIVE) == "default"


@pytest.mark.parametrize(
    ("state", "lag"),
    [
        (replicas.LAGGING, 30.0),
        (replicas.LAGGING, None),
        (replicas.DOWN, None),
        (replicas.NOT_A_REPLICA, None),
    ],
)
def test_a_lagging_down_or_promoted_replica_is_skipped(
    with_replicas: None, state: str, lag: float | None
) -> None:
    replicas.monitor.set_status(_status("default_replica_1", "default", state, lag))
    with replicas.reading(True):
        assert _read(HIVE) == "default"
        assert _read(READING) == "telemetry_replica_1"  # its own replica is fine


def test_a_replica_that_fails_is_skipped_until_the_next_check(with_replicas: None) -> None:
    with replicas.reading(True) as state:
        replicas.replica_failed("default_replica_1", OperationalError("connection refused"))
        assert state.replica_failed
    status = replicas.monitor.statuses("default")[0]
    assert status is not None and status.state == replicas.DOWN
    assert status.error == "OperationalError"
    with replicas.reading(True):
        assert _read(HIVE) == "default"


def test_one_request_reads_one_replica(with_replicas: None, settings: Any) -> None:
    settings.DATABASE_REPLICAS = {"default": ["default_replica_1", "default_replica_2"]}
    replicas.monitor.set_status(_status("default_replica_2", "default", replicas.OK, 0.0))
    seen = set()
    for _ in range(40):
        with replicas.reading(True):
            first = _read(HIVE)
            assert all(_read(HIVE) == first for _ in range(5))
            seen.add(first)
    assert seen == {"default_replica_1", "default_replica_2"}  # spread over requests


@pytest.mark.parametrize("same_database", [False, True])
def test_nothing_migrates_on_a_replica(settings: Any, same_database: bool) -> None:
    settings.TELEMETRY_SAME_DATABASE = same_database
    router = TelemetryRouter()
    for alias in ("default_replica_1", "telemetry_replica_1"):
        for app_label in ("apiary", "telemetry", "auth", "contenttypes"):
            assert router.allow_migrate(alias, app_label) is False


# --- Middleware: which requests may read a replica, read-your-writes -------------------------


def _middleware() -> tuple[ReadReplicaMiddleware, list[str]]:
    """The middleware around a view that records where its read went."""
    reads: list[str] = []

    def view(request: HttpRequest) -> HttpResponse:
        reads.append(_read(HIVE))
        if request.method not in ReadReplicaMiddleware.SAFE_METHODS:
            TelemetryRouter().db_for_write(apps.get_model(HIVE))
        return HttpResponse("ok")

    return ReadReplicaMiddleware(view), reads


def _get(token: str | None = None, address: str = "10.0.0.1", **extra: Any) -> HttpRequest:
    if token:
        extra["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return RequestFactory().get("/apiaries", REMOTE_ADDR=address, **extra)


def _post(token: str | None = None, address: str = "10.0.0.1", **extra: Any) -> HttpRequest:
    if token:
        extra["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return RequestFactory().post("/apiaries", REMOTE_ADDR=address, **extra)


def test_a_client_that_wrote_reads_the_primary_for_a_while(
    with_replicas: None, settings: Any
) -> None:
    settings.READ_YOUR_WRITES_SECONDS = 0.5
    middleware, reads = _middleware()
    middleware(_get("alice"))
    middleware(_post("alice"))
    middleware(_get("alice"))
    middleware(_get("bob"))
    middleware(_get("alice", address="10.9.9.9"))  # the token is the client, not the address
    assert reads == ["default_replica_1", "default", "default", "default_replica_1", "default"]
    time.sleep(0.6)
    middleware(_get("alice"))
    assert reads[-1] == "default_replica_1"


def test_device_keys_and_session_cookies_are_clients_too(with_replicas: None) -> None:
    middleware, reads = _middleware()
    middleware(_post(HTTP_X_DEVICE_KEY="dev-1"))
    middleware(_get(HTTP_X_DEVICE_KEY="dev-1"))
    middleware(_get(HTTP_X_DEVICE_KEY="dev-2"))
    session = RequestFactory().post("/admin/apiary/hive/add/", REMOTE_ADDR="10.0.0.2")
    session.COOKIES["sessionid"] = "s1"
    middleware(session)
    again = RequestFactory().get("/admin/apiary/hive/", REMOTE_ADDR="10.0.0.3")
    again.COOKIES["sessionid"] = "s1"
    middleware(again)
    assert reads == ["default", "default", "default_replica_1", "default", "default"]


def test_a_sign_in_without_credentials_pins_its_address_and_the_session_it_starts(
    with_replicas: None,
) -> None:
    reads: list[str] = []

    def sign_in(request: HttpRequest) -> HttpResponse:
        reads.append(_read(HIVE))
        response = JsonResponse({"access": "new-token"})
        if request.method == "POST":
            response.set_cookie("sessionid", "fresh-session")
        return response

    middleware = ReadReplicaMiddleware(sign_in)
    middleware(_post(address="10.0.0.7"))  # POST /auth/token or /admin/login/
    middleware(_get("new-token", address="10.0.0.7"))  # the token it got, same address
    middleware(_get("someone-else", address="10.0.0.8"))
    browser = RequestFactory().get("/admin/", REMOTE_ADDR="10.0.0.9")  # moved network
    browser.COOKIES["sessionid"] = "fresh-session"
    middleware(browser)
    assert reads == ["default", "default", "default_replica_1", "default"]


def test_a_read_whose_replica_fails_is_answered_again_from_the_primary(
    with_replicas: None,
) -> None:
    reads: list[str] = []

    def view(request: HttpRequest) -> HttpResponse:
        alias = _read(HIVE)
        reads.append(alias)
        if alias == "default_replica_1":
            replicas.replica_failed(alias, OperationalError("server closed the connection"))
            return JsonResponse({"code": "database_unavailable"}, status=503)
        return HttpResponse("from the primary")

    response = ReadReplicaMiddleware(view)(_get("alice"))
    assert response.status_code == 200
    assert reads == ["default_replica_1", "default"]
    status = replicas.monitor.statuses("default")[0]
    assert status is not None and status.state == replicas.DOWN


def test_without_replicas_the_middleware_does_nothing(settings: Any) -> None:
    settings.DATABASE_REPLICAS = {"default": [], "telemetry": []}
    middleware, reads = _middleware()
    middleware(_post("alice"))
    assert reads == ["default"]
    assert caches[replicas.CACHE_ALIAS].get_many([replicas.client_key("authorization:x")]) == {}


def test_an_unavailable_cache_means_reading_the_primary(
    with_replicas: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = caches[replicas.CACHE_ALIAS]

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("redis is down")

    monkeypatch.setattr(cache, "get_many", broken)
    monkeypatch.setattr(cache, "set_many", broken)
    middleware, reads = _middleware()
    middleware(_get("alice"))
    middleware(_post("alice"))  # not remembered, but no error either
    assert reads == ["default", "default"]


# --- Settings --------------------------------------------------------------------------------


def _settings(env: dict[str, str | None], code: str) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if k not in env}
    full.update({k: v for k, v in env.items() if v is not None})
    full["DJANGO_SETTINGS_MODULE"] = "beeapi.settings_test"
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); " + code],
        cwd=ROOT,
        env=full,
        capture_output=True,
        text=True,
        timeout=60,
    )


PRIMARY = "postgresql://u:p@db.example:5432/bees"
TS = "postgresql://u:p@ts.example:5433/bees_telemetry"
R1 = "postgresql://u:p@db-r1.example:5432/bees"
R2 = "postgresql://u:p@db-r2.example:5432/bees"
TS_R1 = "postgresql://u:p@ts-r1.example:5433/bees_telemetry"
SHOW = (
    "import json; from django.conf import settings as s;"
    " print(json.dumps({'replicas': s.DATABASE_REPLICAS, 'dbs': {a: [d['HOST'], d['ENGINE'],"
    " d.get('TEST', {}).get('MIRROR'), d['OPTIONS'] == s.DATABASES[a.split('_replica')[0]]"
    "['OPTIONS']] for a, d in s.DATABASES.items()}}))"
)


def test_replica_urls_become_aliases_with_their_primarys_settings() -> None:
    result = _settings(
        {
            "POSTGRES_URL": PRIMARY,
            "TIMESCALE_URL": TS,
            "TELEMETRY_SAME_DATABASE": None,
            "POSTGRES_REPLICA_URLS": f"{R1}, {R2}",
            "TIMESCALE_REPLICA_URLS": TS_R1,
        },
        SHOW,
    )
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["replicas"] == {
        "default": ["default_replica_1", "default_replica_2"],
        "telemetry": ["telemetry_replica_1"],
    }
    engine = "beeapi.replica_backend"
    assert shown["dbs"]["default_replica_1"] == ["db-r1.example", engine, "default", True]
    assert shown["dbs"]["default_replica_2"] == ["db-r2.example", engine, "default", True]
    assert shown["dbs"]["telemetry_replica_1"] == ["ts-r1.example", engine, "telemetry", True]


def test_single_database_mode_reads_telemetry_from_the_postgres_replicas() -> None:
    result = _settings(
        {
            "POSTGRES_URL": PRIMARY,
            "TIMESCALE_URL": None,
            "TELEMETRY_SAME_DATABASE": "true",
            "POSTGRES_REPLICA_URLS": R1,
            "TIMESCALE_REPLICA_URLS": None,
        },
        SHOW,
    )
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["replicas"] == {
        "default": ["default_replica_1"],
        "telemetry": ["telemetry_replica_1"],
    }
    assert shown["dbs"]["telemetry_replica_1"][:3] == [
        "db-r1.example",
        "beeapi.replica_backend",
        "telemetry",
    ]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"TELEMETRY_SAME_DATABASE": "true", "TIMESCALE_REPLICA_URLS": TS_R1},
            "leave TIMESCALE_REPLICA_URLS unset",
        ),
        ({"POSTGRES_REPLICA_URLS": PRIMARY}, "POSTGRES_REPLICA_URLS names the default primary"),
        ({"REPLICA_MAX_LAG_SECONDS": "soon"}, "REPLICA_MAX_LAG_SECONDS must be a number"),
    ],
)
def test_replica_settings_that_cannot_work_are_refused(env: dict, message: str) -> None:
    base: dict[str, str | None] = {
        "POSTGRES_URL": PRIMARY,
        "TIMESCALE_URL": None if env.get("TELEMETRY_SAME_DATABASE") else TS,
        "TELEMETRY_SAME_DATABASE": None,
        "POSTGRES_REPLICA_URLS": None,
        "TIMESCALE_REPLICA_URLS": None,
    }
    result = _settings({**base, **env}, "")
    assert result.returncode != 0
    assert message in result.stderr
    assert ":p@" not in result.stderr.splitlines()[-1]  # no password in the message


# --- The real thing: a streaming replica -----------------------------------------------------

_BINDIR = localpg.find_bindir()
HAS_BASEBACKUP = _BINDIR is not None and (_BINDIR / "pg_basebackup").exists()

SETUP = """
import json
from django.core.management import call_command
from rest_framework_simplejwt.tokens import AccessToken
from accounts import services
call_command("migrate", database="default", interactive=False, verbosity=0)
keeper = services.user_register(email="keeper@example.com", password="hive-frame-smoker-42")
# Two clients of one beekeeper: one token each (they differ), the same apiaries.
print(json.dumps([str(AccessToken.for_user(keeper)) for _ in range(2)]))
"""

MAX_LAG = 3  # REPLICA_MAX_LAG_SECONDS in the server under test
CHECK = 0.5  # REPLICA_CHECK_SECONDS


def _run(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "beeapi.settings_test", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.mark.skipif(not HAS_BASEBACKUP, reason="pg_basebackup not found (PostgreSQL binaries)")
# The suite's telemetry test database (migrated) serves the server's telemetry alias.
@pytest.mark.django_db(databases=["default", "telemetry"], transaction=True)
def test_reads_use_a_streaming_replica_with_read_your_writes_and_fall_back(
    tmp_path: Path,
) -> None:
    log = tmp_path / "daphne.log"
    with throwaway_postgres("beeapi") as primary:
        env = {
            "POSTGRES_URL": primary.url,
            # Readings stay in the suite's test database: this test is about entities.
            "TIMESCALE_URL": database_url("telemetry"),
            "TELEMETRY_SAME_DATABASE": "",
            "REDIS_URL": "",
            "POSTGRES_REPLICA_URLS": "",
            "TIMESCALE_REPLICA_URLS": "",
        }
        out = _run(env, "-c", "import django; django.setup()\n" + SETUP)
        token_a, token_b = json.loads(out.strip().splitlines()[-1])
        a = {"Authorization": f"Bearer {token_a}"}
        b = {"Authorization": f"Bearer {token_b}"}
        with throwaway_replica(primary) as replica:
            env.update(
                POSTGRES_REPLICA_URLS=replica.url,
                REPLICA_MAX_LAG_SECONDS=str(MAX_LAG),
                REPLICA_CHECK_SECONDS=str(CHECK),
                READ_YOUR_WRITES_SECONDS="10",
            )

            def replica_has(apiary: int) -> bool:
                return replica.execute("SELECT 1 FROM apiaries WHERE id = %s", (apiary,)) != []

            with daphne(env, log) as server:

                def health() -> dict[str, Any]:
                    status, body = server.get("/health")
                    assert status == 200, body
                    return json.loads(body)["replicas"]["default_replica_1"]

                def create(name: str) -> int:
                    status, body = server.post_json("/apiaries", {"name": name}, headers=a)
                    assert status == 201, body
                    return json.loads(body)["id"]

                def get(apiary: int, headers: dict[str, str]) -> int:
                    return server.get(f"/apiaries/{apiary}", headers=headers)[0]

                assert server.get("/apiaries", headers=a)[0] == 200
                assert server.get("/apiaries", headers=b)[0] == 200
                replica.catch_up()
                report = health()
                assert report["state"] == "ok" and report["lag_seconds"] < MAX_LAG, report
                assert report["reachable"] is True and report["replay_paused"] is False

                # (1) Replication paused: the client that wrote reads its write anyway.
                replica.pause_replay()
                paused = create("Paused")
                assert get(paused, a) == 200
                assert not replica_has(paused)
                # (2) ...while another client reads the replica, which has not got it yet.
                assert get(paused, b) == 404, log.read_text()[-3000:]
                replica.resume_replay()
                replica.catch_up()
                assert get(paused, b) == 200

                # (3) Paused longer than REPLICA_MAX_LAG_SECONDS: reads use the primary.
                replica.pause_replay()
                lagging = create("Lagging")
                time.sleep(MAX_LAG + CHECK + 0.5)
                assert not replica_has(lagging)
                assert get(lagging, b) == 200
                report = health()
                assert report["state"] == "lagging", report
                assert report["lag_seconds"] > MAX_LAG and report["replay_paused"] is True
                replica.resume_replay()
                replica.catch_up()
                assert health()["state"] == "ok"
                dbstatus = _run(env, "manage.py", "dbstatus")
                assert "[default_replica_1]" in dbstatus and "replica of default" in dbstatus
                assert "ok: lag" in dbstatus and "serving reads" in dbstatus

                # (4) Replica stopped: reads still work, from the primary.
                replica.stop()
                assert get(lagging, b) == 200, log.read_text()[-3000:]
                assert server.get("/apiaries", headers=b)[0] == 200
                report = health()
                assert report["state"] == "down" and report["reachable"] is False, report
                assert "down: unreachable" in _run(env, "manage.py", "dbstatus")
