"""import_readings copies readings from another database (a single-database install or a
v1 database) into the telemetry database: chunked, idempotent, verified per device."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections
from django.db.models import Count, Sum

from telemetry.models import Reading, ReadingHourly
from telemetry.timescale import hourly_refresh
from telemetry.validation import iso_time
from tests.servers import ThrowawayPostgres, database_url, throwaway_postgres

pytestmark = pytest.mark.django_db(databases=["default", "telemetry"], transaction=True)

# Well in the past: beyond the hourly aggregate's refresh window, so /hourly shows these
# hours only if the import refreshed them.
START = datetime(2025, 3, 1, tzinfo=UTC)
DEVICES = {"v1-hive-a": 2500, "v1-hive-b": 1200, "v1-hive-c": 7}

# The v1 / single-database layout: the same columns as BeeAPI's readings.
READINGS_TABLE = """
CREATE TABLE readings (
    time TIMESTAMPTZ NOT NULL,
    device_id VARCHAR(64) NOT NULL,
    temperature DOUBLE PRECISION,
    humidity DOUBLE PRECISION,
    weight DOUBLE PRECISION,
    sound_level DOUBLE PRECISION,
    PRIMARY KEY (device_id, time)
)
"""


@pytest.fixture(scope="module")
def source_server() -> Iterator[ThrowawayPostgres]:
    with throwaway_postgres(database="beeapi_v1") as server:
        yield server


@pytest.fixture
def source(source_server: ThrowawayPostgres) -> Iterator[str]:
    """The source database with readings of three devices (one minute apart)."""
    with psycopg.connect(source_server.url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS readings")
        conn.execute(READINGS_TABLE)
        for device_id, count in DEVICES.items():
            conn.execute(
                "INSERT INTO readings SELECT %s + make_interval(mins => n), %s,"
                " 34 + (n %% 10) / 10.0, 55, 40 + n / 1000.0, NULL"
                " FROM generate_series(0, %s - 1) AS n",
                [START, device_id, count],
            )
    yield source_server.url
    with psycopg.connect(source_server.url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS readings")


def _import(*args: str) -> str:
    out = io.StringIO()
    call_command("import_readings", *args, stdout=out)
    return out.getvalue()


def _target_counts() -> dict[str, int]:
    rows = Reading.objects.values("device_id").annotate(n=Count("*"))
    return {row["device_id"]: row["n"] for row in rows}


def _source_count(url: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM readings").fetchone()[0]


def test_import_copies_every_device_and_lists_the_counts(source: str) -> None:
    # A materialized recent hour moves the aggregate's watermark to now (TimescaleDB):
    # real-time aggregation then no longer covers the old hours the import brings.
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    Reading.objects.create(device_id="recent", time=now - timedelta(hours=2), temperature=35)
    hourly_refresh(now - timedelta(days=1), now)
    out = _import("--from", source, "--batch-size", "1000")
    assert _target_counts() == {**DEVICES, "recent": 1}
    for device_id, count in DEVICES.items():
        line = next(line for line in out.splitlines() if line.startswith(device_id))
        assert line.split() == [device_id, f"{count:,}", f"{count:,}"]
    assert "3,707 new" in out
    assert "100.0%" in out
    assert "Counts match for all 3 device(s)" in out
    stored = Reading.objects.get(device_id="v1-hive-a", time=START + timedelta(minutes=1234))
    assert stored.temperature == pytest.approx(34.4)
    assert stored.humidity == 55 and stored.sound_level is None
    assert stored.weight == pytest.approx(41.234)
    # /hourly shows the imported history (TimescaleDB: the aggregate was refreshed).
    hourly = ReadingHourly.objects.filter(device_id="v1-hive-a").aggregate(n=Sum("reading_count"))
    assert hourly["n"] == DEVICES["v1-hive-a"]
    assert _source_count(source) == sum(DEVICES.values())  # the source is left alone
    # No beekeeper holds these device ids yet: whoever creates a hive with one reads it.
    assert "3 device id(s) belong to no beekeeper yet" in out


def test_device_ids_held_by_beekeepers_are_not_flagged(source: str, alice) -> None:  # noqa: ANN001
    from apiary.models import Device

    for device_id in DEVICES:
        Device.objects.create(device_id=device_id, owner=alice)
    out = _import("--from", source)
    assert "belong to no beekeeper" not in out


def test_import_twice_changes_nothing(source: str) -> None:
    _import("--from", source, "--batch-size", "500")
    out = _import("--from", source, "--batch-size", "500")
    assert "0 new, 3,707 already there" in out
    assert _target_counts() == DEVICES
    assert "Counts match for all 3 device(s)" in out


def test_import_resumes_after_a_partial_copy(source: str) -> None:
    # Some readings already there (an interrupted run, or readings sent to both).
    with psycopg.connect(source) as conn:
        rows = conn.execute(
            "SELECT device_id, time, temperature, humidity, weight, sound_level FROM readings"
            " WHERE device_id = 'v1-hive-b' ORDER BY time LIMIT 700"
        ).fetchall()
    Reading.objects.bulk_create(
        Reading(device_id=r[0], time=r[1], temperature=r[2], humidity=r[3], weight=r[4])
        for r in rows
    )
    out = _import("--from", source)
    assert f"{sum(DEVICES.values()) - 700:,} new, 700 already there" in out
    assert _target_counts() == DEVICES


def test_delete_source_empties_it_once_the_counts_match(source: str) -> None:
    out = _import("--from", source, "--delete-source")
    assert _target_counts() == DEVICES
    assert _source_count(source) == 0
    assert "Deleted 3,707 imported reading(s)" in out


def test_differing_counts_fail_and_delete_nothing(source: str) -> None:
    # The target holds a reading of v1-hive-c inside its source time span that the
    # source does not have: the per-device check catches it.
    Reading.objects.create(
        device_id="v1-hive-c", time=START + timedelta(minutes=3, seconds=30), temperature=1
    )
    with pytest.raises(CommandError, match="differ for 1 device"):
        _import("--from", source, "--delete-source")
    assert _source_count(source) == sum(DEVICES.values())


def test_readings_sent_after_the_switch_do_not_count_as_a_difference(source: str) -> None:
    Reading.objects.create(device_id="v1-hive-c", time=datetime.now(UTC), temperature=35)
    out = _import("--from", source)
    assert "Counts match for all 3 device(s)" in out
    assert Reading.objects.filter(device_id="v1-hive-c").count() == DEVICES["v1-hive-c"] + 1


def test_a_v1_table_without_a_key_and_with_odd_rows(source_server: ThrowawayPostgres) -> None:
    """No primary key (duplicates possible), REAL columns, a row without any metric."""
    with psycopg.connect(source_server.url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS readings")
        conn.execute(
            "CREATE TABLE readings (time TIMESTAMPTZ NOT NULL, device_id VARCHAR(50),"
            " temperature REAL, humidity REAL, weight REAL, sound_level REAL)"
        )
        conn.execute(
            "INSERT INTO readings VALUES (%s, 'old-1', 35.5, 60, 30, 50),"
            " (%s, 'old-1', 35.5, 60, 30, 50), (%s, 'old-1', 36, NULL, NULL, NULL),"
            " (%s, 'old-2', NULL, NULL, NULL, NULL)",
            [START, START, START + timedelta(minutes=1), START],
        )
    try:
        out = _import("--from", source_server.url)
        assert _target_counts() == {"old-1": 2}
        assert "1 source row(s) have no metric" in out
        assert "Counts match for all 1 device(s)" in out
    finally:
        with psycopg.connect(source_server.url, autocommit=True) as conn:
            conn.execute("DROP TABLE IF EXISTS readings")


def test_a_source_without_readings_is_refused(source_server: ThrowawayPostgres) -> None:
    with pytest.raises(CommandError, match="has no readings table"):
        _import("--from", source_server.url)


def test_the_telemetry_database_itself_is_refused() -> None:
    with pytest.raises(CommandError, match="is the telemetry database itself"):
        _import("--from", database_url("telemetry"))


def test_an_unreachable_source_is_a_clear_error() -> None:
    from devtools import localpg

    url = f"postgresql://beeapi:x@127.0.0.1:{localpg.free_port()}/nothing"
    with pytest.raises(CommandError, match="Cannot connect to the source database") as info:
        _import("--from", url)
    assert ":x@" not in str(info.value)


def test_the_command_line_shows_an_error_not_a_traceback(tmp_path) -> None:  # noqa: ANN001
    import os
    import subprocess
    import sys

    from tests.servers import ROOT

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "beeapi.settings_test",
        "POSTGRES_URL": database_url("default"),
        "TIMESCALE_URL": database_url("telemetry"),
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "import_readings", "--from", "postgresql://127.0.0.1:1/x"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "CommandError: Cannot connect to the source database" in result.stderr
    assert "Traceback" not in result.stderr
    assert connections["telemetry"].settings_dict["NAME"]  # the test database, untouched


def _odd_source(url: str, rows: list[tuple]) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS readings")
        conn.execute(READINGS_TABLE)
        with conn.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO readings (device_id, time, temperature, humidity, weight,"
                " sound_level) VALUES (%s, %s, %s, %s, %s, %s)",
                rows,
            )


def test_readings_post_telemetry_would_refuse_are_refused_by_name(
    source_server: ThrowawayPostgres,
) -> None:
    """The rules of POST /telemetry (telemetry.validation): a metric out of its range, not
    finite, or a time in the future is named in the error, and nothing of its chunk is
    stored. History older than the retention is not refused (START is)."""
    future = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    _odd_source(
        source_server.url,
        [("a-good", START + timedelta(minutes=n), 35.0, 55.0, 40.0, None) for n in range(4)]
        + [
            ("b-bad", START, 120.0, 55.0, 40.0, None),
            ("b-bad", START + timedelta(minutes=1), 35.0, float("nan"), 40.0, None),
            ("b-bad", future, 35.0, 55.0, 40.0, None),
            ("b-bad", future + timedelta(minutes=1), 35.0, None, -3.0, 200.0),
        ],
    )
    try:
        with pytest.raises(CommandError) as caught:
            _import("--from", source_server.url, "--batch-size", "4", "--delete-source")
        message = str(caught.value)
        assert "Refused: 4 reading(s) of the source break the rules of POST /telemetry" in message
        assert (
            "device 'b-bad' at 2025-03-01T00:00:00Z: temperature: Out of range: expected -40 "
            "to 85 °C." in message
        )
        assert "device 'b-bad' at 2025-03-01T00:01:00Z: humidity: A finite number is required." in (
            message
        )
        assert (
            f"device 'b-bad' at {iso_time(future)}: time: More than 5 minutes in the future; "
            "check the device clock." in message
        )
        assert (
            f"device 'b-bad' at {iso_time(future + timedelta(minutes=1))}: time: More than 5 "
            "minutes in the future; check the device clock.; weight: Out of range: expected 0 "
            "to 500 kg.; sound_level: Out of range: expected 0 to 160 dB." in message
        )
        # The chunk before the refused one is stored; nothing of the refused one, and the
        # source is left alone.
        assert _target_counts() == {"a-good": 4}
        assert _source_count(source_server.url) == 8
    finally:
        with psycopg.connect(source_server.url, autocommit=True) as conn:
            conn.execute("DROP TABLE IF EXISTS readings")


def test_the_refusal_lists_at_most_ten_rows(source_server: ThrowawayPostgres) -> None:
    _odd_source(
        source_server.url,
        [("hot", START + timedelta(minutes=n), 90.0 + n, None, None, None) for n in range(12)]
        + [("ok", START, 35.0, None, None, None)],
    )
    try:
        with pytest.raises(CommandError) as caught:
            _import("--from", source_server.url)
        message = str(caught.value)
        assert "Refused: 12 reading(s)" in message
        assert message.count("device 'hot' at ") == 10
        assert "... and 2 more" in message
        assert "Correct or delete these rows in the source and run the command again" in message
        assert _target_counts() == {}
    finally:
        with psycopg.connect(source_server.url, autocommit=True) as conn:
            conn.execute("DROP TABLE IF EXISTS readings")


def test_a_source_with_some_of_the_later_metrics_brings_them(
    source_server: ThrowawayPostgres,
) -> None:
    """A source of today's layout carries the later metrics (here two of them); one of
    the first four's layout brings them as null (the tests above)."""
    with psycopg.connect(source_server.url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS readings")
        conn.execute(READINGS_TABLE)
        conn.execute("ALTER TABLE readings ADD COLUMN battery float8, ADD COLUMN rssi float8")
        conn.execute(
            "INSERT INTO readings (time, device_id, battery, rssi) VALUES"
            " (%s, 'v2-hive', 3.9, -97), (%s, 'v2-hive', NULL, -98), (%s, 'v2-hive', 31, -1)",
            [START, START + timedelta(minutes=1), START + timedelta(minutes=2)],
        )
    try:
        # The third reading's battery is out of range: refused, nothing of the chunk stored.
        with pytest.raises(CommandError, match="battery: Out of range: expected 0 to 30 V."):
            _import("--from", source_server.url)
        with psycopg.connect(source_server.url, autocommit=True) as conn:
            conn.execute("DELETE FROM readings WHERE battery = 31")
        out = _import("--from", source_server.url)
        assert "Counts match for all 1 device(s)" in out
        stored = Reading.objects.filter(device_id="v2-hive").order_by("time")
        assert [(r.battery, r.rssi, r.temperature, r.snr) for r in stored] == [
            (3.9, -97.0, None, None),
            (None, -98.0, None, None),
        ]
    finally:
        with psycopg.connect(source_server.url, autocommit=True) as conn:
            conn.execute("DROP TABLE IF EXISTS readings")
