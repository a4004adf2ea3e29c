"""Late readings reach ``readings_hourly`` (TimescaleDB mode).

The hourly continuous aggregate computes buckets above its watermark from raw readings
(real-time aggregation) and serves materialized rows below it; its refresh policy only
looks back HOURLY_REFRESH_START_OFFSET_DAYS. A reading stored below the watermark (a
gateway catching up after days offline, an import) is therefore stored but missing from
``/hourly`` until its hours are refreshed; one stored more than that far back while
nothing is materialized yet (a new install) is shown by real-time aggregation until the
policy's first run moves the watermark past it.

Ingestion notes the hours of old readings here after its commit (no query: recent
batches are recognized by their timestamps alone); a daemon thread per process, started
lazily, merges the noted ranges every FLUSH_INTERVAL_SECONDS and refreshes them
(telemetry.timescale.hourly_refresh: from -infinity, so no stale hour is left below the
watermark) outside any transaction, off the request path. Failures are logged and
retried a few times, never raised into requests. The catch-up job (migration 0006)
refreshes whatever a process could not (it died before its flush). Plain PostgreSQL
has nothing to do: triggers keep its hourly rollup on every write.
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from django.db import connections

from telemetry.timescale import (
    HOURLY_REFRESH_END_OFFSET_HOURS,
    TELEMETRY_DB,
    hourly_refresh,
    hourly_watermark,
    storage_is_timescale,
)

logger = logging.getLogger("telemetry")

FLUSH_INTERVAL_SECONDS = 5.0
MAX_ATTEMPTS = 5
HOUR = timedelta(hours=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Range = tuple[datetime, datetime]
T = TypeVar("T", datetime, int)

_lock = threading.Lock()
_pending: list[Range] = []
_attempts = 0
_thread: threading.Thread | None = None
_wakeup = threading.Event()
_flushing = threading.Lock()  # one refresh pass at a time (worker or late_refresh_flush)


def coalesce(ranges: Iterable[tuple[T, T]]) -> list[tuple[T, T]]:
    """Sorted ranges (of times, or of hour numbers) with overlapping or touching ones
    merged."""
    merged: list[tuple[T, T]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def hour_ranges(times: Iterable[datetime]) -> list[Range]:
    """The hours that ``times`` (aware) fall in, as coalesced [start, end) ranges.

    Hours counted as integers since the epoch (one C call per time, no datetime built
    per reading): ingestion calls this for every batch of older readings.
    """
    hours = coalesce((hour, hour + 1) for hour in {int(t.timestamp() // 3600) for t in times})
    return [(_EPOCH + start * HOUR, _EPOCH + end * HOUR) for start, end in hours]


def late_readings_note(times: list[datetime], *, now: datetime | None = None) -> None:
    """Queue a refresh of the hours of ``times`` if any may lie below the watermark.

    Called after the readings are committed. Free when every reading is newer than
    now - HOURLY_REFRESH_END_OFFSET_HOURS (the refresh policy never materializes those
    hours, so real-time aggregation shows them). Never raises.
    """
    try:
        if not times:
            return
        cutoff = (now or datetime.now(UTC)) - timedelta(hours=HOURLY_REFRESH_END_OFFSET_HOURS)
        if min(times) >= cutoff or not storage_is_timescale():
            return
        # All of the batch's hours: the worker clips them to the watermark.
        late_ranges_add(hour_ranges(times))
    except Exception:  # noqa: BLE001 - the readings are stored; this is a best effort
        logger.exception("noting late readings for the hourly refresh failed")


def late_ranges_add(ranges: Iterable[Range]) -> None:
    """Queue [start, end) ranges for refresh and make sure the worker runs."""
    global _pending
    with _lock:
        _pending = coalesce([*_pending, *ranges])
    _ensure_worker()


def late_ranges_pending() -> list[Range]:
    with _lock:
        return list(_pending)


def late_refresh_flush(using: str = TELEMETRY_DB) -> list[Range]:
    """Refresh everything queued now, in this thread (tests, shutdown); what was refreshed.

    Must be called outside a transaction. Failures are logged and the ranges re-queued
    (up to MAX_ATTEMPTS passes), never raised.
    """
    global _pending, _attempts
    with _flushing:
        with _lock:
            ranges, _pending = _pending, []
        if not ranges:
            return []
        try:
            done = _refresh(ranges, using)
        except Exception:  # noqa: BLE001
            with _lock:
                _attempts += 1
                if _attempts < MAX_ATTEMPTS:
                    _pending = coalesce([*_pending, *ranges])
                    again = "; will retry"
                else:
                    _attempts = 0
                    again = f"; giving up after {MAX_ATTEMPTS} attempts"
            logger.exception(
                "refreshing readings_hourly for %d late range(s) failed%s", len(ranges), again
            )
            return []
        finally:
            _close(using)
        with _lock:
            _attempts = 0
        return done


def _refresh(ranges: list[Range], using: str) -> list[Range]:
    # One refresh for all of them (hourly_refresh starts at -infinity and never leaves a
    # stale hour below the watermark). With nothing materialized yet the noted hours are
    # real-time for now, but the policy's first run would move the watermark past the
    # ones older than its window: hourly_refresh materializes them first.
    if not hourly_refresh(ranges[0][0], ranges[-1][1], using):
        return []
    watermark = hourly_watermark(using)
    if watermark is None:  # nothing below the policy's end: all real-time
        return []
    # Above the watermark real-time aggregation shows them.
    done = [(start, min(end, watermark)) for start, end in ranges if start < watermark]
    if done:
        logger.info("readings_hourly refreshed for late readings: %s", _describe(done))
    return done


def _describe(ranges: list[Range]) -> str:
    return ", ".join(f"[{s:%Y-%m-%d %H:%M}, {e:%Y-%m-%d %H:%M})" for s, e in ranges)


def _close(using: str) -> None:
    connection = connections[using]
    if connection.in_atomic_block:  # a caller's transaction (a test): not ours to close
        return
    try:
        connection.close()
    except Exception:  # noqa: BLE001
        logger.exception("closing the late-refresh connection failed")


def _ensure_worker() -> None:
    global _thread
    with _lock:
        if _thread is not None and _thread.is_alive():
            return
        _thread = threading.Thread(target=_work, name="telemetry-late-refresh", daemon=True)
        _thread.start()


def _work() -> None:
    while True:
        # Wait a little so that batches arriving together are refreshed together.
        _wakeup.wait(FLUSH_INTERVAL_SECONDS)
        _wakeup.clear()
        try:
            late_refresh_flush()
        except Exception:  # noqa: BLE001 - the worker must survive anything
            logger.exception("late-refresh worker pass failed")


def _flush_at_exit() -> None:
    if late_ranges_pending():
        late_refresh_flush()


atexit.register(_flush_at_exit)
