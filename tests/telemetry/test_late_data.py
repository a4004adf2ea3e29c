"""Late readings (below readings_hourly's watermark) reach the hourly view by themselves."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from telemetry import late_data
from telemetry.late_data import (
    coalesce,
    hour_ranges,
    late_ranges_add,
    late_ranges_pending,
    late_readings_note,
    late_refresh_flush,
)
from telemetry.models import Reading
from telemetry.selectors import HOURLY_COLUMNS, readings_hourly_list
from telemetry.services import readings_ingest
from telemetry.timescale import hourly_refresh, hourly_watermark
from telemetry.validation import iso_time
from tests.telemetry.conftest import hourly_aggregate_recreate

H = timedelta(hours=1)
T0 = datetime(2026, 5, 1, 10, tzinfo=UTC)


def test_ranges_coalesce() -> None:
    assert coalesce([]) == []
    assert coalesce([(T0 + 5 * H, T0 + 6 * H), (T0, T0 + H), (T0 + H, T0 + 2 * H)]) == [
        (T0, T0 + 2 * H),
        (T0 + 5 * H, T0 + 6 * H),
    ]
    assert coalesce([(T0, T0 + 4 * H), (T0 + H, T0 + 2 * H), (T0 + 3 * H, T0 + 6 * H)]) == [
        (T0, T0 + 6 * H)
    ]
    times = [T0 + timedelta(minutes=m) for m in (0, 59, 61, 125, 300)]
    assert hour_ranges(times) == [(T0, T0 + 3 * H), (T0 + 5 * H, T0 + 6 * H)]


def test_queue_merges_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(late_data, "_pending", [])
    monkeypatch.setattr(late_data, "_ensure_worker", lambda: None)
    late_ranges_add([(T0, T0 + H)])
    late_ranges_add([(T0 + 2 * H, T0 + 3 * H), (T0 + H, T0 + 2 * H)])
    late_ranges_add([(T0 + 10 * H, T0 + 11 * H)])
    assert late_ranges_pending() == [(T0, T0 + 3 * H), (T0 + 10 * H, T0 + 11 * H)]


def test_recent_readings_cost_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """No query and nothing queued when every reading is newer than the refresh end."""
    monkeypatch.setattr(late_data, "_pending", [])

    def no_probe(*args: object) -> bool:
        raise AssertionError("probed the database for recent readings")

    monkeypatch.setattr(late_data, "storage_is_timescale", no_probe)
    now = datetime.now(UTC)
    late_readings_note([now - timedelta(minutes=m) for m in (0, 10, 55)], now=now)
    assert late_ranges_pending() == []


@pytest.mark.plain_postgres
@pytest.mark.django_db(databases=["default", "telemetry"])
def test_plain_mode_queues_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(late_data, "_pending", [])
    late_readings_note([datetime.now(UTC) - timedelta(days=5)])
    assert late_ranges_pending() == []


@pytest.fixture
def materialized() -> Iterator[datetime]:
    """readings_hourly materialized up to about an hour ago; reset afterwards.

    The watermark only moves forward, and later tests ingest old readings in transactions
    (no after-commit hook), so the aggregate is recreated (0003 reversed and reapplied)
    to leave it as migrated.
    """
    now = datetime.now(UTC)
    Reading.objects.create(device_id="late-anchor", time=now - 2 * H, weight=40.0)
    end = now.replace(minute=0, second=0, microsecond=0) - H
    assert hourly_refresh(end - timedelta(days=10), end)
    watermark = hourly_watermark()
    assert watermark is not None and watermark > now - timedelta(days=1)
    try:
        yield watermark
    finally:
        late_refresh_flush()
        Reading.objects.all().delete()
        hourly_aggregate_recreate()
        assert hourly_watermark() is None


@pytest.mark.timescaledb
@pytest.mark.django_db(databases=["default", "telemetry"], transaction=True)
def test_late_readings_appear_in_hourly_within_seconds(materialized: datetime) -> None:
    five_days_ago = (datetime.now(UTC) - timedelta(days=5)).replace(
        minute=0, second=0, microsecond=0
    )
    start = five_days_ago - timedelta(days=1)

    # Without the hook (a raw insert) late readings are stored but missing from /hourly.
    Reading.objects.create(device_id="late-raw", time=five_days_ago, weight=40.0)
    assert readings_hourly_list(device_id="late-raw", start=start) == []

    times = [five_days_ago + timedelta(minutes=m) for m in (5, 35, 70, 185)]
    result = readings_ingest(
        device_id="late-gw",
        readings=[{"time": iso_time(t), "temperature": 30.0 + i} for i, t in enumerate(times)],
    )
    assert result.accepted == 4
    deadline = time.monotonic() + 30
    rows = readings_hourly_list(device_id="late-gw", start=start)
    while len(rows) < 3 and time.monotonic() < deadline:
        time.sleep(0.5)
        rows = readings_hourly_list(device_id="late-gw", start=start)
    count = HOURLY_COLUMNS.index("reading_count")
    buckets = {row[0]: row[count] for row in rows}
    assert buckets == {five_days_ago: 2, five_days_ago + H: 1, five_days_ago + 3 * H: 1}
    assert late_ranges_pending() == []


@pytest.mark.timescaledb
@pytest.mark.django_db(databases=["default", "telemetry"], transaction=True)
def test_flush_refreshes_synchronously_and_clips_to_the_watermark(
    materialized: datetime,
) -> None:
    late = materialized - timedelta(days=4)
    Reading.objects.create(device_id="late-flush", time=late + timedelta(minutes=10), weight=1.0)
    late_ranges_add([(late, late + H), (materialized - H, materialized + 5 * H)])
    assert late_refresh_flush() == [(late, late + H), (materialized - H, materialized)]
    count = HOURLY_COLUMNS.index("reading_count")
    rows = readings_hourly_list(device_id="late-flush", start=late)
    assert [row[count] for row in rows] == [1]
    assert late_refresh_flush() == []
