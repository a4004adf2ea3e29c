"""The production stack (docker-compose.yml, Dockerfile, .dockerignore, nginx) and the
settings it relies on: no secret in the files, no password default outside DEBUG,
pinned images, a healthcheck on every service, migrations run once."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.servers import ROOT, daphne, database_url

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
# A tag that names an exact release: 15.19-bookworm, 2.28.3-pg15, 3.11.14-slim-bookworm.
EXACT_TAG = re.compile(r"^\d+\.\d+(\.\d+)?(-[a-z0-9.]+)*$")


def _settings(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Import the production settings in a fresh interpreter with exactly ``env``."""
    code = (
        "import json, django; from django.conf import settings; django.setup();"
        "d = settings.DATABASES;"
        "print(json.dumps({a: d[a]['PASSWORD'] for a in d}))"
    )
    base = {"PATH": os.environ["PATH"], "DJANGO_SETTINGS_MODULE": "beeapi.settings"}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_settings_refuse_to_start_without_database_urls_outside_debug() -> None:
    result = _settings({"DEBUG": "false", "SECRET_KEY": "x" * 50})
    assert result.returncode != 0
    assert "POSTGRES_URL (or POSTGRES_URL_FILE) must be set when DEBUG is false" in result.stderr
    assert "beeapi123" not in result.stdout


def test_database_passwords_come_from_secret_files(tmp_path: Path) -> None:
    (tmp_path / "pg").write_text("entity-secret\n")
    (tmp_path / "ts").write_text("telemetry-secret\n")
    result = _settings(
        {
            "DEBUG": "false",
            "SECRET_KEY": "x" * 50,
            "POSTGRES_URL": "postgresql://beeapi@db.example.org/beeapi",
            "POSTGRES_PASSWORD_FILE": str(tmp_path / "pg"),
            "TIMESCALE_URL": "postgresql://beeapi@ts.example.org/beeapi_telemetry",
            "TIMESCALE_PASSWORD_FILE": str(tmp_path / "ts"),
            "POSTGRES_REPLICA_URLS": "postgresql://beeapi@replica.example.org/beeapi",
        }
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        '{"default": "entity-secret", "telemetry": "telemetry-secret",'
        ' "default_replica_1": "entity-secret"}'
    )


def test_compose_and_init_files_hold_no_passwords() -> None:
    for path in ("docker-compose.yml", "postgres/init.sh", "postgres/replica-entrypoint.sh"):
        text = (ROOT / path).read_text()
        assert "beeapi123" not in text and "replicator123" not in text, path
        # URLs carry no password: postgresql://user@host, never user:password@host.
        assert not re.search(r"postgresql://[^@/\s:]+:[^@/\s]+@", text), path
    for name, service in SERVICES.items():
        environment = service.get("environment") or {}
        for key, value in environment.items():
            if "PASSWORD" in key or key == "SECRET_KEY":
                assert key.endswith("_FILE"), f"{name}: {key} is given inline"
                assert str(value).startswith("/run/secrets/"), f"{name}: {key}={value}"


def test_every_image_is_pinned_to_an_exact_version() -> None:
    for name, service in SERVICES.items():
        if "build" in service:
            continue
        image = service["image"]
        tag = image.rpartition(":")[2]
        assert EXACT_TAG.match(tag), f"{name}: {image} floats"
    dockerfile = (ROOT / "Dockerfile").read_text()
    base = re.search(r"^FROM (\S+)", dockerfile, re.M)
    assert base is not None and EXACT_TAG.match(base.group(1).rpartition(":")[2])


def test_timescaledb_image_is_the_version_restore_expects() -> None:
    """A backup restores only into the TimescaleDB version it was dumped from, so the
    stack's image is pinned to the version this project is tested against."""
    tag = SERVICES["timescaledb"]["image"].rpartition(":")[2]
    assert re.match(r"^\d+\.\d+\.\d+-pg15$", tag), tag


def test_every_long_running_service_has_a_healthcheck() -> None:
    for name, service in SERVICES.items():
        if service.get("restart") == "no":
            continue  # the one-off migrate service
        assert "healthcheck" in service, name


def test_migrations_run_once_before_the_app_and_worker_start() -> None:
    migrate = SERVICES["migrate"]
    assert "migrate --database default" in " ".join(migrate["command"])
    assert migrate["restart"] == "no"
    for name in ("app", "alerts-worker"):
        service = SERVICES[name]
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert "migrate" not in " ".join(service.get("command") or [])
    cmd = re.search(r"^CMD (.+)$", (ROOT / "Dockerfile").read_text(), re.M)
    assert cmd is not None and "migrate" not in cmd.group(1)


def test_the_image_leaves_out_tests_devtools_ci_and_local_env() -> None:
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {"tests", "devtools", ".ci", ".env", "secrets"} <= ignored


def test_nginx_access_log_drops_query_strings() -> None:
    conf = (ROOT / "deploy/nginx.conf").read_text()
    log_format = re.search(r"log_format\s+(\S+)\s+([^;]+);", conf)
    assert log_format is not None
    assert re.search(rf"access_log\s+\S+\s+{log_format.group(1)};", conf)
    for variable in ("$request ", '$request"', "$request_uri", "$args", "$query_string"):
        assert variable not in log_format.group(2), variable


@pytest.mark.django_db(transaction=True, databases=["default", "telemetry"])
def test_app_healthcheck_passes_on_a_serving_app_and_fails_without_one(tmp_path: Path) -> None:
    script = [sys.executable, str(ROOT / "deploy/healthcheck.py"), "http"]
    env = {"POSTGRES_URL": database_url("default"), "TIMESCALE_URL": database_url("telemetry")}
    with daphne(env, tmp_path / "app.log") as server:
        ok = subprocess.run([*script, str(server.port)], capture_output=True, text=True)
        assert ok.returncode == 0, ok.stdout
        port = server.port
    down = subprocess.run([*script, str(port)], capture_output=True, text=True)
    assert down.returncode == 1 and "/health" in down.stdout


@pytest.mark.django_db(transaction=True, databases=["default", "telemetry"])
def test_worker_heartbeat_is_touched_by_a_round_and_read_by_the_healthcheck(
    tmp_path: Path,
) -> None:
    from django.core.management import call_command

    beat = tmp_path / "alive"
    check = [sys.executable, str(ROOT / "deploy/healthcheck.py"), "heartbeat", str(beat), "60"]
    assert subprocess.run(check, capture_output=True).returncode == 1
    call_command("alerts_worker", "--once", "--heartbeat", str(beat))
    assert subprocess.run(check, capture_output=True).returncode == 0


def test_devtools_are_installed_only_for_development() -> None:
    code = "import django; from django.conf import settings; django.setup(); print('devtools' in settings.INSTALLED_APPS)"
    base = {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "beeapi.settings",
        "DEBUG": "true",
    }
    for flag, expected in (({}, "False"), ({"BEEAPI_DEVTOOLS": "true"}, "True")):
        result = subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env={**base, **flag},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.stdout.strip() == expected, result.stderr


def test_no_production_module_imports_devtools() -> None:
    """The image leaves devtools/ out: an import of it from an app would fail there."""
    offenders = []
    for path in ROOT.glob("*/**/*.py"):
        top = path.relative_to(ROOT).parts[0]
        if top in {"devtools", "tests", ".venv", ".localdb"}:
            continue
        text = path.read_text()
        if re.search(r"^\s*(from devtools\b|import devtools\b)", text, re.M):
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
