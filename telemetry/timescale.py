"""Detect whether the telemetry database runs TimescaleDB or plain PostgreSQL.

Everything that differs between the two storage modes asks this module, so the choice is
made in one place and logged the same way by start-up, /health and ``dbstatus``.
"""

from __future__ import annotations

import logging
from datetime import datetime

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


_MODE_CACHE: dict[str, bool] = {}


def storage_is_timescale(using: str = TELEMETRY_DB) -> bool:
    """timescale_version() is not None, remembered per process once known.

    The mode only changes by migrating the telemetry database, which means a restart;
    a failed probe (server down) raises and is not remembered.
    """
    if using not in _MODE_CACHE:
        _MODE_CACHE[using] = timescale_version(using) is not None
    return _MODE_CACHE[using]


def describe_mode(version: str | None) -> str:
    if version:
        return f"TimescaleDB {version}"
    return "plain PostgreSQL (TimescaleDB not installed: no hypertable compression or retention policies; readings_hourly is a view)"


def _release_pool(using: str) -> None:
    """Close the pool that a start-up probe opened; the first request opens a new one.

    The probe runs when the ASGI module is imported, which test runners do before they
    point the alias at a test database: Django does not close pools when it creates the
    test database, so a pool left open here would keep serving the original database.
    """
    connection = connections[using]
    connection.close()
    close_pool = getattr(connection, "close_pool", None)
    if close_pool is not None and connection.settings_dict.get("OPTIONS", {}).get("pool"):
        close_pool()


def log_mode(using: str = TELEMETRY_DB) -> str | None:
    """Log the storage mode once, at start-up. Never raises: a down server is logged."""
    try:
        version = timescale_version(using)
    except Exception as exc:  # noqa: BLE001 - start-up must not die on a down database
        logger.warning("telemetry database unreachable at start-up: %s", exc)
        return None
    finally:
        _release_pool(using)
    if version:
        logger.info("telemetry storage mode: %s", describe_mode(version))
    else:
        logger.warning("telemetry storage mode: %s", describe_mode(version))
    return version


# The hourly continuous aggregate's refresh policy recomputes buckets in
# [now - start_offset, now - end_offset] every schedule interval; real-time aggregation
# covers the rest up to now. Raw data must outlive the refresh window by a clear margin:
# a refresh over a range whose raw chunks were dropped would empty those hourly buckets.
HOURLY_REFRESH_START_OFFSET_DAYS = 3
HOURLY_REFRESH_END_OFFSET_HOURS = 1
HOURLY_REFRESH_SCHEDULE_MINUTES = 30
RETENTION_MARGIN_DAYS = 7


def retention_problem(retention_days: int) -> str | None:
    """Why ``retention_days`` is unsafe next to the aggregate's refresh window, or None."""
    minimum = HOURLY_REFRESH_START_OFFSET_DAYS + RETENTION_MARGIN_DAYS
    if retention_days <= minimum:
        return (
            f"TELEMETRY_RETENTION_DAYS={retention_days} is too short: raw readings must be kept "
            f"longer than the hourly aggregate's refresh window ({HOURLY_REFRESH_START_OFFSET_DAYS}"
            f" days) plus a {RETENTION_MARGIN_DAYS}-day margin, i.e. more than {minimum} days."
        )
    return None


def is_hypertable(table: str = "readings", using: str = TELEMETRY_DB) -> bool:
    """Whether ``table`` is currently a hypertable (False when TimescaleDB is absent)."""
    if timescale_version(using) is None:
        return False
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM timescaledb_information.hypertables"
            " WHERE hypertable_name = %s)",
            [table],
        )
        return bool(cursor.fetchone()[0])


def hourly_refresh(start: datetime, end: datetime, using: str = TELEMETRY_DB) -> bool:
    """Materialize ``readings_hourly`` for [start, end) (TimescaleDB mode; else a no-op).

    The refresh policy only looks back HOURLY_REFRESH_START_OFFSET_DAYS, so bulk loads of
    older data (simulator backfills, imports) call this to bring their hours in. It must
    run outside a transaction, which is why ingestion itself does not call it.
    Returns whether a refresh ran.
    """
    if timescale_version(using) is None:
        return False
    if connections[using].in_atomic_block:
        # Real-time aggregation still shows these hours, computed from raw readings.
        logger.warning("readings_hourly not refreshed: a refresh cannot run in a transaction")
        return False
    with connections[using].cursor() as cursor:
        cursor.execute("CALL refresh_continuous_aggregate('readings_hourly', %s, %s)", [start, end])
    return True
