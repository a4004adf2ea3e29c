"""manage.py telemetry_policies: the TimescaleDB policies follow the settings."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections

pytestmark = pytest.mark.django_db(databases=["default", "telemetry"])


def jobs() -> dict[str, tuple[timedelta, dict]]:
    """The policy jobs by procedure; the hourly aggregate's retention as
    ``policy_retention/readings_hourly``."""
    with connections["telemetry"].cursor() as cursor:
        cursor.execute(
            "SELECT proc_name, hypertable_name, schedule_interval, config::text"
            " FROM timescaledb_information.jobs"
            " WHERE proc_name IN ('policy_compression', 'policy_retention',"
            " 'policy_refresh_continuous_aggregate', 'readings_hourly_catch_up')"
        )
        rows = cursor.fetchall()
    assert len(rows) == 5, rows
    return {
        f"{proc}/readings_hourly"
        if (proc, table) == ("policy_retention", "readings_hourly")
        else proc: (schedule, json.loads(config) if config else None)
        for proc, table, schedule, config in rows
    }


def interval(text: str) -> timedelta:
    with connections["telemetry"].cursor() as cursor:
        cursor.execute("SELECT %s::interval", [text])
        return cursor.fetchone()[0]


def run(*args: str) -> str:
    out = StringIO()
    call_command("telemetry_policies", *args, stdout=out)
    return out.getvalue()


@pytest.mark.timescaledb
def test_policies_match_the_migrated_settings() -> None:
    out = run()
    assert "Policies match the settings." in out
    assert "compression: ok" in out and "retention: ok" in out and "refresh: ok" in out
    assert "hourly_retention: ok" in out and "catch_up: ok" in out
    assert "nothing changed" in run("--apply")


@pytest.mark.timescaledb
def test_apply_follows_changed_settings_and_is_idempotent(settings) -> None:
    before = jobs()
    settings.TELEMETRY_RETENTION_DAYS = 400
    settings.TELEMETRY_COMPRESS_AFTER_DAYS = 3
    shown = run()
    assert "retention: DIFFERS" in shown and "compression: DIFFERS" in shown
    assert "hourly_retention: DIFFERS" in shown
    assert "refresh: ok" in shown and "3 policy(ies) differ" in shown

    out = run("--apply")
    assert "Applied 3 policy change(s)." in out
    after = jobs()
    assert interval(after["policy_retention"][1]["drop_after"]) == timedelta(days=400)
    # Hourly rows are kept exactly as long as raw readings.
    hourly = after["policy_retention/readings_hourly"][1]
    assert interval(hourly["drop_after"]) == timedelta(days=400)
    assert interval(after["policy_compression"][1]["compress_after"]) == timedelta(days=3)
    # The refresh policy was right and is left alone.
    assert (
        after["policy_refresh_continuous_aggregate"]
        == before["policy_refresh_continuous_aggregate"]
    )

    assert "nothing changed" in run("--apply")
    assert jobs() == after
    assert "Policies match the settings." in run()


@pytest.mark.timescaledb
def test_apply_restores_a_changed_refresh_policy() -> None:
    with connections["telemetry"].cursor() as cursor:
        cursor.execute(
            "SELECT remove_continuous_aggregate_policy('readings_hourly');"
            " SELECT add_continuous_aggregate_policy('readings_hourly',"
            " start_offset => INTERVAL '1 day', end_offset => INTERVAL '2 hours',"
            " schedule_interval => INTERVAL '1 hour')"
        )
    assert "refresh: DIFFERS" in run()
    assert "Applied 1 policy change(s)." in run("--apply")
    schedule, config = jobs()["policy_refresh_continuous_aggregate"]
    assert schedule == timedelta(minutes=30)
    assert interval(config["start_offset"]) == timedelta(days=3)
    assert interval(config["end_offset"]) == timedelta(hours=1)


@pytest.mark.timescaledb
def test_apply_adds_a_missing_policy() -> None:
    with connections["telemetry"].cursor() as cursor:
        cursor.execute("SELECT remove_retention_policy('readings')")
    assert "in force: none" in run()
    assert "Applied 1 policy change(s)." in run("--apply")
    assert interval(jobs()["policy_retention"][1]["drop_after"]) == timedelta(days=365)


@pytest.mark.timescaledb
def test_apply_adds_a_missing_catch_up_job() -> None:
    with connections["telemetry"].cursor() as cursor:
        cursor.execute(
            "SELECT delete_job(job_id) FROM timescaledb_information.jobs"
            " WHERE proc_name = 'readings_hourly_catch_up'"
        )
    shown = run()
    assert "catch_up: DIFFERS" in shown and "1 policy(ies) differ" in shown
    assert "Applied 1 policy change(s)." in run("--apply")
    assert jobs()["readings_hourly_catch_up"][0] == timedelta(minutes=30)
    assert "Policies match the settings." in run()


@pytest.mark.timescaledb
def test_apply_refuses_a_retention_inside_the_refresh_window(settings) -> None:
    before = jobs()
    settings.TELEMETRY_RETENTION_DAYS = 10
    with pytest.raises(CommandError, match="too short"):
        run("--apply")
    assert jobs() == before
    assert "too short" in run()


@pytest.mark.plain_postgres
def test_plain_mode_has_no_policies() -> None:
    for args in ((), ("--apply",)):
        out = run(*args)
        assert "plain PostgreSQL: there are no TimescaleDB policies" in out
        assert "prune_readings" in out
