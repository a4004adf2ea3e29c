"""Telemetry fixtures: alice owns a hive with a device key; bob owns nothing of hers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connections
from django.db.migrations.executor import MigrationExecutor
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.models import User
from apiary.device_keys import device_key_generate, device_key_hash
from apiary.models import Apiary, Device, Hive
from telemetry.validation import iso_time


@dataclass
class DeviceHive:
    hive: Hive
    key: str

    @property
    def device_id(self) -> str:
        return self.hive.device_id


def jwt_client(user: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    return client


def make_hive(owner: User, device_id: str) -> DeviceHive:
    apiary = Apiary.objects.create(owner=owner, name=f"{owner.name}'s yard")
    key = device_key_generate()
    hive = Hive.objects.create(
        apiary=apiary,
        name=f"Hive {device_id}",
        device_id=device_id,
        device_key_hash=device_key_hash(key),
    )
    Device.objects.create(device_id=device_id, owner=owner)
    return DeviceHive(hive=hive, key=key)


def minutes_ago(minutes: float) -> str:
    return iso_time(datetime.now(UTC) - timedelta(minutes=minutes))


def reading(minutes: float = 0, **metrics: float) -> dict:
    return {"time": minutes_ago(minutes), **(metrics or {"temperature": 35.1, "weight": 42.0})}


@pytest.fixture
def alice_hive(alice: User) -> DeviceHive:
    return make_hive(alice, "hive-alice-1")


@pytest.fixture
def alice_client(alice: User) -> APIClient:
    return jwt_client(alice)


@pytest.fixture
def bob_client(bob: User) -> APIClient:
    return jwt_client(bob)


@pytest.fixture
def device(alice_hive: DeviceHive) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_X_DEVICE_KEY=alice_hive.key)
    return client


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
