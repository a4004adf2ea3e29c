"""Database and MQTT broker health, shared by GET /health and ``manage.py dbstatus``."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.db import connections

from core.databases import TELEMETRY_DB
from sensors.broker import broker_status
from telemetry.timescale import describe_mode, timescale_version


def database_health(alias: str) -> dict[str, Any]:
    """Reachability, round-trip time and server version of one database alias."""
    started = time.perf_counter()
    try:
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT current_setting('server_version')")
            (version,) = cursor.fetchone()
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable" here
        return {
            "reachable": False,
            "error": type(exc).__name__,
            "round_trip_ms": round((time.perf_counter() - started) * 1000, 1),
        }
    result: dict[str, Any] = {
        "reachable": True,
        "round_trip_ms": round((time.perf_counter() - started) * 1000, 1),
        "server_version": version,
    }
    if alias == TELEMETRY_DB:
        ts_version = timescale_version(alias)
        result["timescaledb"] = {
            "active": ts_version is not None,
            "version": ts_version,
            "mode": "timescaledb" if ts_version else "plain-postgresql",
            "description": describe_mode(ts_version),
        }
    return result


def pool_settings() -> dict[str, Any]:
    pool = settings.DATABASES["default"]["OPTIONS"]["pool"]
    return {
        "min_size": pool["min_size"],
        "max_size": pool["max_size"],
        "timeout_s": pool["timeout"],
    }


def replica_health() -> dict[str, dict[str, Any]]:
    """Every read replica, checked now: its primary, state (ok: reads may use it;
    lagging: further behind than REPLICA_MAX_LAG_SECONDS; down; not_a_replica: not in
    recovery), lag_seconds, and whether its WAL replay is paused."""
    from beeapi import replicas

    return {alias: status.as_dict() for alias, status in replicas.check_now().items()}


def health_report() -> tuple[bool, dict[str, Any]]:
    databases = {alias: database_health(alias) for alias in ("default", "telemetry")}
    # Replicas are reported but do not make the service unhealthy: reads fall back to
    # the primaries while a replica is down or behind.
    healthy = all(db["reachable"] for db in databases.values())
    return healthy, {
        "status": "ok" if healthy else "degraded",
        "databases": databases,
        "replicas": replica_health(),
        # Reported, never failing the rest: a broker that is down stops MQTT devices
        # only (and refuses key replacements and hive deletions with 503).
        "mqtt": mqtt_health(),
    }


def mqtt_health() -> dict[str, Any]:
    """The MQTT broker: ``{"reachable", "host", "port"}``, or ``{"configured": False}``."""
    return broker_status()
