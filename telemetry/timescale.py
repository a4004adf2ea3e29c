"""Detect whether the telemetry database runs TimescaleDB or plain PostgreSQL.

Everything that differs between the two storage modes asks this module, so the choice is
made in one place and logged the same way by start-up, /health and ``dbstatus``.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import OperationalError, connections, transaction

from core.databases import TELEMETRY_DB

logger = logging.getLogger("telemetry")


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


SINGLE_DATABASE_NOTE = (
    "single-database mode: readings beside the entity tables in the POSTGRES_URL database"
)


def same_database() -> bool:
    """Whether telemetry shares the entity database (settings.TELEMETRY_SAME_DATABASE)."""
    from django.conf import settings

    return bool(getattr(settings, "TELEMETRY_SAME_DATABASE", False))


def describe_mode(version: str | None) -> str:
    if version:
        mode = f"TimescaleDB {version}"
    else:
        mode = "plain PostgreSQL (TimescaleDB not installed: no hypertable compression or retention policies; readings_hourly is a rollup table maintained by triggers on write)"
    return f"{mode}; {SINGLE_DATABASE_NOTE}" if same_database() else mode


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
# covers the rest up to now. Hourly rows have the same retention as raw readings: the
# raw chunks and the hourly chunks are dropped after TELEMETRY_RETENTION_DAYS, and a
# refresh over a range whose raw chunks were dropped empties those hourly buckets. Raw
# data must therefore outlive the refresh window by a clear margin: the window the
# policy keeps recomputing must never reach the hours retention is dropping, or hourly
# history inside the window would vanish with them.
HOURLY_REFRESH_START_OFFSET_DAYS = 3
HOURLY_REFRESH_END_OFFSET_HOURS = 1
HOURLY_REFRESH_SCHEDULE_MINUTES = 30
RETENTION_MARGIN_DAYS = 7
# The catch-up job (migration 0006): a refresh from the beginning of time up to the
# policy's window, so that no invalidated hour stays below the watermark for long (see
# hourly_refresh).
HOURLY_CATCH_UP_PROC = "readings_hourly_catch_up"
HOURLY_CATCH_UP_SCHEDULE_MINUTES = 30
# A watermark further behind than this may fall below the policy's next window start:
# that run would move it past hours never materialized. Refreshes then catch up first.
HOURLY_WATERMARK_MAX_LAG = timedelta(days=HOURLY_REFRESH_START_OFFSET_DAYS - 1)


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
    """Materialize ``readings_hourly`` for [start, end) and every stale hour below it
    (TimescaleDB mode; else a no-op). Returns whether a refresh ran.

    The refresh policy only looks back HOURLY_REFRESH_START_OFFSET_DAYS, so bulk loads of
    older data (simulator backfills, imports), late readings and purges call this. It
    must run outside a transaction, which is why ingestion itself does not call it.

    Hourly history is lost when the watermark moves past hours that were never
    materialized: real-time aggregation only computes buckets at or above it. That is
    what a new install's first policy run did to readings stored more than 3 days back
    while nothing was materialized (the watermark was at -infinity), and what a refresh
    of [start, end) does to stale hours between the old watermark and ``start``. So:

    - everything below the policy's window is refreshed from -infinity: TimescaleDB
      recomputes only the hours its invalidation log holds (written, purged or dropped
      since they were last materialized, or never materialized), which costs nothing
      where the aggregate is right, and never overlaps the policy's own refresh;
    - inside the window, from ``start`` or the watermark, whichever is earlier, to
      ``end`` or the watermark, whichever is later, never past the policy's end (now -
      HOURLY_REFRESH_END_OFFSET_HOURS: newer hours stay real-time, as late_data assumes);
      with the watermark missing or lagging by more than HOURLY_WATERMARK_MAX_LAG, the
      whole window, so the policy's next run cannot skip anything either.

    A refresh overlapping one in progress (the policy's, another process's) is retried.
    """
    if timescale_version(using) is None:
        return False
    if connections[using].in_atomic_block:
        # Real-time aggregation still shows these hours, computed from raw readings.
        logger.warning("readings_hourly not refreshed: a refresh cannot run in a transaction")
        return False
    now = datetime.now(UTC)
    # The first hour the policy refreshes: TimescaleDB rounds a window inward to whole
    # hours, so the policy leaves out the hour its window starts in. The catch-up below
    # runs up to it, the window part from it.
    boundary = _hour(now - timedelta(days=HOURLY_REFRESH_START_OFFSET_DAYS)) + timedelta(hours=1)
    horizon = now - timedelta(hours=HOURLY_REFRESH_END_OFFSET_HOURS)
    watermark = hourly_watermark(using)
    if watermark is None or watermark < now - HOURLY_WATERMARK_MAX_LAG:
        start, until = boundary, horizon
    else:
        start, until = min(start, watermark), min(max(end, watermark), horizon)
    _refresh_window(None, min(until, boundary), using)
    start = max(_hour(start), boundary)
    if start + timedelta(hours=1) <= until:  # a window under an hour is refused
        _refresh_window(start, until, using)
    return True


REFRESH_ATTEMPTS = 5


def _hour(value: datetime) -> datetime:
    return value.replace(minute=0, second=0, microsecond=0)


def _refresh_window(start: datetime | None, end: datetime, using: str) -> None:
    for attempt in range(1, REFRESH_ATTEMPTS + 1):
        try:
            with connections[using].cursor() as cursor:
                cursor.execute(
                    "CALL refresh_continuous_aggregate('readings_hourly', %s, %s)", [start, end]
                )
            return
        except OperationalError as exc:
            # 55P03: "due to a concurrent refresh" on an overlapping window.
            if getattr(exc.__cause__, "sqlstate", None) != "55P03" or attempt == REFRESH_ATTEMPTS:
                raise
            time.sleep(0.2 * attempt)


# --- Policies: what the settings ask for, what is in force, and bringing them in line. ---

# Each kind: (job procedure, relation it works on: None for the catch-up job).
POLICY_PROCS = {
    "compression": ("policy_compression", "readings"),
    "retention": ("policy_retention", "readings"),
    "hourly_retention": ("policy_retention", "readings_hourly"),
    "refresh": ("policy_refresh_continuous_aggregate", "readings_hourly"),
    "catch_up": (HOURLY_CATCH_UP_PROC, None),
}


@dataclass(frozen=True)
class Policy:
    """One policy: its kind, job (None when wanted, not yet in force), schedule and config.

    ``config`` holds the settings that matter as timedeltas (compress_after, drop_after,
    start_offset, end_offset); ``schedule`` is None where TimescaleDB picks it.
    """

    kind: str
    config: dict[str, timedelta]
    schedule: timedelta | None = None
    job_id: int | None = None
    raw_config: dict[str, Any] | None = None

    def matches(self, wanted: Policy) -> bool:
        if self.config != wanted.config:
            return False
        return wanted.schedule is None or self.schedule == wanted.schedule


def policies_wanted() -> dict[str, Policy]:
    """The policies the settings (and the refresh-window constants) ask for.

    Hourly rows are kept exactly as long as raw readings (``hourly_retention``), and the
    catch-up job refreshes whatever the refresh policy's window does not reach.
    """
    retention = timedelta(days=int(settings.TELEMETRY_RETENTION_DAYS))
    return {
        "compression": Policy(
            "compression",
            {"compress_after": timedelta(days=int(settings.TELEMETRY_COMPRESS_AFTER_DAYS))},
        ),
        "retention": Policy("retention", {"drop_after": retention}),
        "hourly_retention": Policy("hourly_retention", {"drop_after": retention}),
        "refresh": Policy(
            "refresh",
            {
                "start_offset": timedelta(days=HOURLY_REFRESH_START_OFFSET_DAYS),
                "end_offset": timedelta(hours=HOURLY_REFRESH_END_OFFSET_HOURS),
            },
            schedule=timedelta(minutes=HOURLY_REFRESH_SCHEDULE_MINUTES),
        ),
        "catch_up": Policy(
            "catch_up", {}, schedule=timedelta(minutes=HOURLY_CATCH_UP_SCHEDULE_MINUTES)
        ),
    }


def hourly_mat_hypertable_id(using: str = TELEMETRY_DB) -> int | None:
    """The materialization hypertable id of ``readings_hourly`` (None if not a cagg)."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT mat_hypertable_id FROM _timescaledb_catalog.continuous_agg"
            " WHERE user_view_name = 'readings_hourly'"
        )
        row = cursor.fetchone()
    return row[0] if row else None


# The hourly retention job works on the aggregate's materialization hypertable; the jobs
# view names the aggregate for it, as for the refresh job.
_POLICIES_SQL = f"""
SELECT j.job_id, j.proc_name, j.hypertable_name, j.schedule_interval, j.config,
       (j.config->>'compress_after')::interval, (j.config->>'drop_after')::interval,
       (j.config->>'start_offset')::interval, (j.config->>'end_offset')::interval
FROM timescaledb_information.jobs j
WHERE (j.proc_name IN ('policy_compression', 'policy_retention')
       AND j.hypertable_schema = current_schema() AND j.hypertable_name = 'readings')
   OR (j.proc_name IN ('policy_refresh_continuous_aggregate', 'policy_retention')
       AND (j.config->>'mat_hypertable_id' = %s OR j.config->>'hypertable_id' = %s))
   OR (j.proc_name = '{HOURLY_CATCH_UP_PROC}' AND j.proc_schema = current_schema())
ORDER BY j.job_id
"""


def policies_in_force(using: str = TELEMETRY_DB) -> dict[str, list[Policy]]:
    """The policies of ``readings`` and ``readings_hourly`` in force, by kind."""
    found: dict[str, list[Policy]] = {kind: [] for kind in POLICY_PROCS}
    mat_id = hourly_mat_hypertable_id(using)
    mat = str(mat_id if mat_id is not None else -1)
    with connections[using].cursor() as cursor:
        cursor.execute(_POLICIES_SQL, [mat, mat])
        rows = cursor.fetchall()
    for job_id, proc, table, schedule, raw, compress_after, drop_after, start, end in rows:
        if proc == HOURLY_CATCH_UP_PROC:
            kind = "catch_up"
        elif proc == "policy_retention":
            kind = "retention" if table == "readings" else "hourly_retention"
        else:
            kind = "compression" if proc == "policy_compression" else "refresh"
        values = {
            "compression": {"compress_after": compress_after},
            "retention": {"drop_after": drop_after},
            "hourly_retention": {"drop_after": drop_after},
            "refresh": {"start_offset": start, "end_offset": end},
            "catch_up": {},
        }[kind]
        config = json.loads(raw) if isinstance(raw, str) else raw  # Django loads jsonb as text
        found[kind].append(Policy(kind, values, schedule, job_id, config))
    return found


def _interval(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    if seconds % 86400 == 0:  # "400 days" in the job's config, as the migrations write it
        return f"{seconds // 86400} days"
    return f"{seconds} seconds"


def _add_policy_sql(policy: Policy) -> tuple[str, list[Any]]:
    config = policy.config
    if policy.kind == "compression":
        return (
            "SELECT add_compression_policy('readings', compress_after => %s::interval)",
            [_interval(config["compress_after"])],
        )
    if policy.kind in ("retention", "hourly_retention"):
        table = POLICY_PROCS[policy.kind][1]
        return (
            f"SELECT add_retention_policy('{table}', drop_after => %s::interval)",
            [_interval(config["drop_after"])],
        )
    if policy.kind == "catch_up":
        every = _interval(policy.schedule or timedelta(minutes=HOURLY_CATCH_UP_SCHEDULE_MINUTES))
        return (
            f"SELECT add_job('{HOURLY_CATCH_UP_PROC}', %s::interval,"
            " initial_start => now() + %s::interval)",
            [every, every],
        )
    return (
        "SELECT add_continuous_aggregate_policy('readings_hourly',"
        " start_offset => %s::interval, end_offset => %s::interval,"
        " schedule_interval => %s::interval)",
        [
            _interval(config["start_offset"]),
            _interval(config["end_offset"]),
            _interval(policy.schedule or timedelta(minutes=HOURLY_REFRESH_SCHEDULE_MINUTES)),
        ],
    )


_REMOVE_SQL = {
    "compression": "SELECT remove_compression_policy('readings', if_exists => true)",
    "retention": "SELECT remove_retention_policy('readings', if_exists => true)",
    "hourly_retention": "SELECT remove_retention_policy('readings_hourly', if_exists => true)",
    "refresh": "SELECT remove_continuous_aggregate_policy('readings_hourly', if_exists => true)",
    "catch_up": (
        "SELECT delete_job(job_id) FROM timescaledb_information.jobs"
        f" WHERE proc_name = '{HOURLY_CATCH_UP_PROC}' AND proc_schema = current_schema()"
    ),
}


def policies_apply(using: str = TELEMETRY_DB) -> list[str]:
    """Bring the policies in line with the settings, in one transaction; what changed.

    Raises ValueError for settings that must not be applied (retention_problem, a
    compression delay under a day). Returns [] when everything already matched.
    """
    problem = retention_problem(int(settings.TELEMETRY_RETENTION_DAYS))
    if problem:
        raise ValueError(problem)
    if int(settings.TELEMETRY_COMPRESS_AFTER_DAYS) < 1:
        raise ValueError("TELEMETRY_COMPRESS_AFTER_DAYS must be at least 1.")
    changes: list[str] = []
    with transaction.atomic(using=using):
        in_force = policies_in_force(using)
        with connections[using].cursor() as cursor:
            for kind, wanted in policies_wanted().items():
                current = in_force[kind]
                if len(current) == 1 and current[0].matches(wanted):
                    continue
                cursor.execute(_REMOVE_SQL[kind])
                sql, params = _add_policy_sql(wanted)
                cursor.execute(sql, params)
                changes.append(
                    f"{kind}: {describe_policy(current[0]) if current else 'none'}"
                    f" -> {describe_policy(wanted)}"
                )
    return changes


def _human(value: timedelta | None) -> str:
    if value is None:
        return "?"
    seconds = int(value.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} seconds"


def describe_policy(policy: Policy) -> str:
    parts = [f"{key} {_human(value)}" for key, value in policy.config.items()]
    if policy.kind == "catch_up":
        parts.append(
            "refresh from -infinity to the refresh window (to its end while the watermark lags)"
        )
    parts.append(
        f"every {_human(policy.schedule)}" if policy.schedule else "schedule: TimescaleDB default"
    )
    return ", ".join(parts)


# --- The hourly aggregate's watermark: below it, readings_hourly shows materialized rows. ---

_WATERMARK_SQL = """
SELECT CASE WHEN w > 0 THEN _timescaledb_functions.to_timestamp(w) END
FROM (SELECT _timescaledb_functions.cagg_watermark(mat_hypertable_id) AS w
      FROM _timescaledb_catalog.continuous_agg WHERE user_view_name = 'readings_hourly') AS c
"""


def hourly_watermark(using: str = TELEMETRY_DB) -> datetime | None:
    """Where materialization of ``readings_hourly`` ends (TimescaleDB mode), or None.

    Real-time aggregation computes buckets at or above it from raw readings; readings
    stored below it only show after a refresh of their hours. None when nothing is
    materialized yet (everything is real-time) or readings_hourly is not an aggregate.
    """
    with connections[using].cursor() as cursor:
        cursor.execute(_WATERMARK_SQL)
        row = cursor.fetchone()
    return row[0] if row else None
