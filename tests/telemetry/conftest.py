"""Telemetry fixtures: alice owns a hive with a device key; bob owns nothing of hers
(alice, bob and their clients are tests/conftest.py's)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connections
from django.db.migrations.executor import MigrationExecutor
from rest_framework.test import APIClient

from accounts.models import User
from telemetry.validation import iso_time

# Defined once in tests/factories.py; test modules import them from here too.
from tests.factories import DeviceHive, device_client, jwt_client, make_hive  # noqa: F401


def minutes_ago(minutes: float) -> str:
    return iso_time(datetime.now(UTC) - timedelta(minutes=minutes))


def reading(minutes: float = 0, **metrics: float) -> dict:
    return {"time": minutes_ago(minutes), **(metrics or {"temperature": 35.1, "weight": 42.0})}


@pytest.fixture
def alice_hive(alice: User) -> DeviceHive:
    """alice's hive with its device key: here (and in tests/monitoring) it overrides
    tests/conftest.py's alice_hive, a Hive in her apiary "Orchard"."""
    return make_hive(alice, "hive-alice-1")


@pytest.fixture
def device(alice_hive: DeviceHive) -> APIClient:
    return device_client(alice_hive.key)


def hourly_aggregate_recreate() -> None:
    """readings_hourly as a new install has it (TimescaleDB mode): 0003 reversed and every
    later migration reapplied, nothing materialized. Its recreated jobs are postponed by a
    schedule interval: the tests run jobs themselves (CALL run_job), and the scheduler
    must not run them at a moment of its choosing during this test or later ones."""
    connection = connections["telemetry"]
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes("telemetry")
    executor.migrate([("telemetry", "0002_hypertable")])
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(latest)
    hourly_jobs_postpone()


def hourly_jobs_postpone() -> None:
    with connections["telemetry"].cursor() as cursor:
        cursor.execute(
            "SELECT alter_job(job_id, next_start => now() + schedule_interval)"
            " FROM timescaledb_information.jobs WHERE job_id >= 1000"
        )
