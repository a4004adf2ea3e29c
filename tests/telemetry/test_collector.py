"""The HTTP ingest's collector (telemetry.collector): small requests arriving together share
one COPY and one commit, and each is answered with its own result after that commit."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.db import connections
from django.test import override_settings
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.models import User
from telemetry import services
from telemetry.models import Reading
from telemetry.services import readings_ingest
from telemetry.validation import iso_time
from tests.factories import DeviceHive, device_client, jwt_client, make_hive
from tests.servers import daphne, database_url, throwaway_postgres

pytestmark = pytest.mark.django_db(databases=["default", "telemetry"], transaction=True)

NOW = datetime.now(UTC).replace(second=0, microsecond=0)


def at(minutes: int) -> str:
    return iso_time(NOW - timedelta(minutes=minutes))


def concurrently(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run each call on a thread of its own (a server's worker threads), all at once."""
    results: list[Any] = [None] * len(calls)
    start = threading.Barrier(len(calls))

    def run(index: int) -> None:
        start.wait()
        try:
            results[index] = calls[index]()
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def transactions_of(device_ids: list[str], since: datetime) -> int:
    """How many transactions wrote the readings of ``device_ids`` from ``since`` on (rows
    written by one transaction share its id, xmin)."""
    with psycopg.connect(database_url("telemetry")) as conn:
        (count,) = conn.execute(
            "SELECT count(DISTINCT xmin::text) FROM readings"
            " WHERE device_id = ANY(%s) AND time >= %s",
            [device_ids, since],
        ).fetchone()
    return count


def post(device: DeviceHive, body: Any) -> Callable[[], tuple[int, Any]]:
    def call() -> tuple[int, Any]:
        client = device_client(device.key)
        client.raise_request_exception = False  # a 500 is an answer here
        response = client.post("/telemetry", body, format="json")
        return response.status_code, (response.json() if response.status_code < 500 else None)

    return call


@override_settings(TELEMETRY_COLLECT_MS=10_000, TELEMETRY_COLLECT_MAX_READINGS=8)
def test_concurrent_requests_share_one_commit_and_each_gets_its_own_answer(alice: User) -> None:
    """The batch closes when its eighth valid reading joins (long before the window):
    six devices' new readings, one device's reading and a re-sent one, through both
    ingest endpoints; a ninth request with an invalid reading gets its own 400."""
    devices = [make_hive(alice, f"collect-{n}") for n in range(8)]
    readings_ingest(
        device_id="collect-6", readings=[{"time": at(5), "weight": 41.0}]
    )  # stored before: the re-sent one
    batches_before = services._collector.batches
    calls = [
        post(device, {"time": at(1), "temperature": 35.0 + n})
        for n, device in enumerate(devices[:5])
    ]

    def owner_post() -> tuple[int, Any]:
        response = jwt_client(alice).post(
            f"/hives/{devices[5].hive.pk}/telemetry", {"time": at(1), "rssi": -80}, format="json"
        )
        return response.status_code, response.json()

    calls += [
        owner_post,
        post(
            devices[6],
            {"readings": [{"time": at(5), "weight": 41.0}, {"time": at(1), "weight": 42.0}]},
        ),
        post(devices[7], {"time": at(1), "temperature": "hot"}),
    ]
    results = concurrently(calls)

    assert results[:5] == [(201, {"accepted": 1, "duplicates": 0})] * 5
    assert results[5] == (201, {"accepted": 1, "duplicates": 0})
    assert results[6] == (201, {"accepted": 1, "duplicates": 1})
    status, body = results[7]
    assert status == 400 and "temperature" in body
    assert services._collector.batches == batches_before + 1
    stored = [d.device_id for d in devices[:7]]
    assert transactions_of(stored, NOW - timedelta(minutes=2)) == 1
    assert (
        Reading.objects.filter(device_id__in=stored, time__gte=NOW - timedelta(minutes=2)).count()
        == 7
    )
    assert dict(
        Reading.objects.filter(
            device_id__startswith="collect-", temperature__isnull=False
        ).values_list("device_id", "temperature")
    ) == {f"collect-{n}": 35.0 + n for n in range(5)}
    assert not Reading.objects.filter(device_id="collect-7").exists()


@pytest.mark.parametrize("collect_ms", [0, 2])
def test_a_request_alone_is_answered_as_without_the_collector(alice: User, collect_ms: int) -> None:
    device = make_hive(alice, "alone-1")
    with override_settings(TELEMETRY_COLLECT_MS=collect_ms):
        first = post(device, {"readings": [{"time": at(2), "weight": 40.0}]})()
        again = post(device, {"readings": [{"time": at(2), "weight": 40.0}, {"time": at(1)}]})()
        bad = post(device, {"time": at(1), "weight": "heavy"})()
    assert first == (201, {"accepted": 1, "duplicates": 0})
    assert again[0] == 400 and "1" in again[1]["readings"]  # a reading without a metric
    assert bad[0] == 400 and "weight" in bad[1]
    assert Reading.objects.filter(device_id="alone-1").count() == 1


@override_settings(TELEMETRY_COLLECT_MS=10_000, TELEMETRY_COLLECT_MAX_READINGS=3)
def test_a_batch_the_database_refuses_is_stored_request_by_request(alice: User) -> None:
    """A refusal that is not an outage (here a constraint that one request's reading
    breaks) fails that request alone: the others are stored."""
    devices = [make_hive(alice, f"refuse-{n}") for n in range(3)]
    with psycopg.connect(database_url("telemetry"), autocommit=True) as admin:
        admin.execute(
            "ALTER TABLE readings ADD CONSTRAINT test_refuse CHECK"
            " (device_id <> 'refuse-2' OR weight < 100)"
        )
    try:
        results = concurrently(
            [post(device, {"time": at(1), "weight": 150.0}) for device in devices]
        )
    finally:
        with psycopg.connect(database_url("telemetry"), autocommit=True) as admin:
            admin.execute("ALTER TABLE readings DROP CONSTRAINT test_refuse")
    assert results[:2] == [(201, {"accepted": 1, "duplicates": 0})] * 2
    assert results[2][0] == 500
    assert sorted(
        Reading.objects.filter(device_id__startswith="refuse-").values_list("device_id", flat=True)
    ) == [
        "refuse-0",
        "refuse-1",
    ]


def test_while_the_database_is_down_every_request_of_a_batch_gets_503(
    alice: User, tmp_path: Path
) -> None:
    """A daphne process whose telemetry server is stopped: the five concurrent requests
    (one batch, or a few: under a server a batch also closes when it holds every request
    being served) all answer 503, nothing of theirs is stored, and once the server is
    back the same requests are stored. A request alone is stored without waiting."""
    devices = [make_hive(alice, f"down-{n}") for n in range(5)]
    bodies = [{"time": at(1), "temperature": 35.0 + n} for n in range(5)]
    with throwaway_postgres() as telemetry_pg:
        env = {
            "POSTGRES_URL": database_url("default"),
            "TIMESCALE_URL": telemetry_pg.url,
            "TELEMETRY_COLLECT_MS": "20000",
            "TELEMETRY_COLLECT_MAX_READINGS": "5",
        }
        with daphne(env, tmp_path / "daphne.log") as server:
            server.manage("migrate", "--database", "telemetry", "--no-input")
            # Alone on the server, a request does not wait out the window.
            started = time.monotonic()
            status, body = server.post_json(
                "/telemetry", {"time": at(3), "rssi": -90}, {"X-Device-Key": devices[0].key}
            )
            assert status == 201, body
            assert time.monotonic() - started < 5

            def send(n: int) -> Callable[[], tuple[int, Any]]:
                def call() -> tuple[int, Any]:
                    status, body = server.post_json(
                        "/telemetry", bodies[n], {"X-Device-Key": devices[n].key}
                    )
                    return status, json.loads(body)

                return call

            telemetry_pg.stop()
            started = time.monotonic()
            results = concurrently([send(n) for n in range(5)])
            assert time.monotonic() - started < 15  # the batch filled: nobody waited it out
            assert [status for status, _ in results] == [503] * 5, results
            assert {body["code"] for _, body in results} == {"database_unavailable"}

            telemetry_pg.start()
            with psycopg.connect(telemetry_pg.url) as conn:
                (count,) = conn.execute("SELECT count(*) FROM readings").fetchone()
            assert count == 1  # the one stored before the outage
            # The pool reconnects on its own, with a short back-off.
            auth = {"Authorization": f"Bearer {RefreshToken.for_user(alice).access_token}"}
            probe = f"/hives/{devices[0].hive.pk}/telemetry"
            deadline = time.monotonic() + 40
            while server.get(probe, auth)[0] == 503 and time.monotonic() < deadline:
                time.sleep(0.5)
            results = concurrently([send(n) for n in range(5)])
            assert results == [(201, {"accepted": 1, "duplicates": 0})] * 5
            with psycopg.connect(telemetry_pg.url) as conn:
                (count,) = conn.execute("SELECT count(*) FROM readings").fetchone()
            assert count == 1 + 5


def test_a_leader_is_answered_at_its_commit_and_its_alerts_follow(
    alice: User, tmp_path: Path
) -> None:
    """Under daphne, the request that stores a batch answers once it is committed, as the
    others of its batch do; the alert evaluation that follows the commit runs after the
    answer, on another worker thread. Here the evaluation waits for the hive's row,
    which the test holds locked: the POST is answered all the same, and the rules'
    states appear once the lock is released."""
    from alerts.models import AlertState
    from apiary.selectors import HIVE_TABLE

    device = make_hive(alice, "leader-1")
    env = {"POSTGRES_URL": database_url("default"), "TIMESCALE_URL": database_url("telemetry")}
    with daphne(env, tmp_path / "daphne.log") as server:
        with psycopg.connect(database_url("default")) as lock:
            lock.execute(f"SELECT 1 FROM {HIVE_TABLE} WHERE id = %s FOR UPDATE", [device.hive.pk])
            released = threading.Timer(8, lock.rollback)
            released.start()
            try:
                started = time.monotonic()
                status, body = server.post_json(
                    "/telemetry", {"time": at(1), "weight": 40.0}, {"X-Device-Key": device.key}
                )
                answered = time.monotonic() - started
            finally:
                released.join()
        assert status == 201, body
        assert answered < 5, f"the POST waited {answered:.1f} s for its alert evaluation"
        deadline = time.monotonic() + 10
        while not AlertState.objects.filter(hive=device.hive).exists():
            assert time.monotonic() < deadline, "the readings were never evaluated"
            time.sleep(0.1)
    assert Reading.objects.filter(device_id="leader-1").count() == 1
