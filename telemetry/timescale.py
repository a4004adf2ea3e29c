"""Detect whether the telemetry database runs TimescaleDB or plain PostgreSQL.

Everything that differs between the two storage modes asks this module, so the choice is
made in one place and logged the same way by start-up, /health and ``dbstatus``.
"""

from __future__ import annotations

import logging

from django.db import connections

logger = logging.getLogger("telemetry")

TELEMETRY_DB = "telemetry"


def timescale_version(using: str = TELEMETRY_DB) -> str | None:
    """The installed TimescaleDB extension version in this database, or None."""
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'")
        row = cursor.fetchone()
    return row[0] if row else None


def timescale_available(using: str = TELEMETRY_DB) -> bool:
    """Whether the server can run TimescaleDB here: packaged and preloaded.

    Used by migrations to decide whether to create the extension; a server with the
    package but without ``shared_preload_libraries`` cannot load it.
    """
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'),"
            " current_setting('shared_preload_libraries') LIKE '%%timescaledb%%'"
        )
        packaged, preloaded = cursor.fetchone()
    return bool(packaged and preloaded)


def describe_mode(version: str | None) -> str:
    if version:
        return f"TimescaleDB {version}"
    return "plain PostgreSQL (TimescaleDB not installed: no hypertable compression or retention policies; readings_hourly is a view)"


def log_mode(using: str = TELEMETRY_DB) -> str | None:
    """Log the storage mode once, at start-up. Never raises: a down server is logged."""
    try:
        version = timescale_version(using)
    except Exception as exc:  # noqa: BLE001 - start-up must not die on a down database
        logger.warning("telemetry database unreachable at start-up: %s", exc)
        return None
    if version:
        logger.info("telemetry storage mode: %s", describe_mode(version))
    else:
        logger.warning("telemetry storage mode: %s", describe_mode(version))
    return version
