"""alerts_worker as a real process (two of them at once) against the test databases."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from alerts.models import Alert, AlertRule, Delivery, Kind, Status
from telemetry.services import readings_ingest
from telemetry.validation import iso_time
from tests.alerts.conftest import FLOW, Receiver
from tests.factories import HiveFactory
from tests.servers import ROOT, database_url


def start_worker(logfile: Path, **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", "alerts_worker", "--period", "1"],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "beeapi.settings_test",
            "POSTGRES_URL": database_url("default"),
            "TIMESCALE_URL": database_url("telemetry"),
            **env,
        },
        stdout=logfile.open("w"),
        stderr=subprocess.STDOUT,
    )


def wait_for(check, timeout: float = 20.0):  # noqa: ANN001, ANN201
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.2)
    return check()


@FLOW
def test_two_workers_raise_a_silent_sensor_once_and_deliver_it_once(alice, tmp_path):
    hive = HiveFactory(apiary__owner=alice, device_id="silent-1")
    AlertRule.objects.filter(user=alice, kind=Kind.NO_DATA).update(params={"minutes": 5})
    receiver = Receiver()
    from alerts.services import webhook_create

    try:
        with_private = {"WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true"}
        from django.test import override_settings

        with override_settings(WEBHOOK_ALLOW_PRIVATE_NETWORKS=True):
            webhook_create(actor=alice, url=receiver.url)
        # The sensor's last reading was 6 minutes ago: silent longer than the rule allows.
        last = datetime.now(UTC) - timedelta(minutes=6)
        readings_ingest(
            device_id="silent-1",
            readings=[
                {"time": iso_time(last - timedelta(minutes=i)), "weight": 40.0} for i in range(5)
            ],
        )
        assert not Alert.objects.exists()
        workers = [start_worker(tmp_path / f"worker-{i}.log", **with_private) for i in range(2)]
        try:
            alert = wait_for(lambda: Alert.objects.filter(hive=hive, kind=Kind.NO_DATA).first())
            assert alert is not None, (tmp_path / "worker-0.log").read_text()
            assert wait_for(lambda: len(receiver.received) >= 1)
            time.sleep(3)  # a few more periods of both workers
            assert Alert.objects.filter(hive=hive).count() == 1
            assert len(receiver.received) == 1
            assert Delivery.objects.get(channel="webhook").state == Delivery.State.DELIVERED
        finally:
            for worker in workers:
                worker.terminate()
                worker.wait(timeout=10)
        # Data again: the next reading resolves it.
        readings_ingest(
            device_id="silent-1", readings=[{"time": iso_time(datetime.now(UTC)), "weight": 40.0}]
        )
        alert.refresh_from_db()
        assert alert.status == Status.RESOLVED
        logs = "".join((tmp_path / f"worker-{i}.log").read_text() for i in range(2))
        assert "alerts_worker: stopped" in logs
    finally:
        receiver.close()


@pytest.mark.django_db
def test_worker_once_runs_a_round_and_exits(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "alerts_worker", "--once"],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "beeapi.settings_test",
            "POSTGRES_URL": database_url("default"),
            "TIMESCALE_URL": database_url("telemetry"),
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
