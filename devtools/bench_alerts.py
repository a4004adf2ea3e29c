"""The alerts part of ``bench_telemetry``: ingest with the default rules against ingest
with alerts off, and the time from the reading that completes a swarm to its alert on a
socket. Loopback only, bounded by --alert-readings and --swarms."""

from __future__ import annotations

import http.client
import json
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from rest_framework_simplejwt.tokens import AccessToken
from websockets.sync.client import connect

from alerts.models import Alert, AlertRule, AlertState
from apiary.devices import hive_rotate_device_key
from apiary.models import Apiary, Event, Hive
from telemetry.models import Reading
from telemetry.validation import iso_time

PREFIX = "bench-alert-"
ROUNDS = 3


def _hives(user: Any, name: str, count: int) -> list[tuple[Hive, str]]:
    apiary, _ = Apiary.objects.get_or_create(owner=user, name="Benchmark apiary")
    hives = []
    for n in range(count):
        hive, _ = Hive.objects.get_or_create(
            device_id=f"{PREFIX}{name}-{n:04d}", defaults={"apiary": apiary, "name": f"{name} {n}"}
        )
        key = hive_rotate_device_key(hive=hive, actor=user)  # fresh keys: shown once
        hives.append((hive, key))
    return hives


def _bodies(hives: list[tuple[Hive, str]], total: int, size: int) -> list[tuple[str, bytes]]:
    """Batches of one reading per second per device, all in the last half hour, so every
    batch is evaluated (nothing is late) and every reading is new."""
    per_device = max(size, total // len(hives))
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=5)
    start = end - timedelta(seconds=per_device)
    bodies = []
    for index, (_, key) in enumerate(hives):
        for offset in range(0, per_device, size):
            readings = [
                {
                    "time": iso_time(start + timedelta(seconds=offset + i)),
                    "temperature": round(34.8 + 0.01 * (i % 50), 2),
                    "humidity": 58.0,
                    "weight": round(40.0 + index * 0.1 + 0.0001 * i, 4),
                    "sound_level": 40.0,
                }
                for i in range(min(size, per_device - offset))
            ]
            bodies.append((key, json.dumps({"readings": readings}).encode()))
    return bodies


def _clear(user: Any) -> None:
    hives = Hive.objects.filter(device_id__startswith=PREFIX)
    # A run within half an hour of the last one would resend some of its readings.
    since = datetime.now(UTC) - timedelta(hours=1)
    Reading.objects.filter(device_id__startswith=PREFIX, time__gte=since).delete()
    Alert.objects.filter(hive__in=hives).delete()
    Event.objects.filter(hive__in=hives).delete()
    AlertState.objects.filter(hive__in=hives).delete()


def run(bench: Any, user: Any) -> None:
    opts = bench.options
    size = opts["batch_size"]
    total = max(0, opts["alert_readings"])
    if total == 0 and opts["swarms"] <= 0:
        bench.stdout.write("alerts: skipped (--alert-readings 0 --swarms 0)")
        return
    devices = max(1, min(opts["api_devices"], total // size))
    rules = AlertRule.objects.filter(user=user, enabled=True).count()
    bench.stdout.write(
        f"alerts: {rules} enabled rule(s) of the bench user; {total:,} readings each way in "
        f"batches of {size} from {devices} device(s), the last half hour"
    )
    _clear(user)
    with (
        bench._daphnes(1, ALERTS_ENABLED="false") as off_base,
        bench._daphnes(1, ALERTS_ENABLED="true") as on_base,
    ):
        if total:
            _ingest_rates(bench, user, off_base, on_base, total, size, devices)
        if opts["swarms"] > 0:
            _swarm_latency(bench, user, on_base[0])
    _clear(user)


def _ingest_rates(
    bench: Any, user: Any, off_base: Any, on_base: Any, total: int, size: int, devices: int
) -> None:
    off_bodies = _bodies(_hives(user, "off", devices), total, size)
    on_bodies = _bodies(_hives(user, "on", devices), total, size)
    off_n = off_s = on_n = on_s = 0.0
    for r in range(ROUNDS):
        n, seconds = bench._post(off_base, off_bodies[r::ROUNDS])
        off_n, off_s = off_n + n, off_s + seconds
        n, seconds = bench._post(on_base, on_bodies[r::ROUNDS])
        on_n, on_s = on_n + n, on_s + seconds
    off, on = off_n / off_s, on_n / on_s
    bench.stdout.write(
        f"  ingest, alerts off:                 {off:>10,.0f} readings/s\n"
        f"  ingest, default rules active:       {on:>10,.0f} readings/s"
        f"   -> {100 * on / off:.0f}% of alerts off"
    )


def _swarm_latency(bench: Any, user: Any, base: tuple[str, int]) -> None:
    count = bench.options["swarms"]
    hives = _hives(user, "swarm", count)
    _clear(user)
    received: dict[int, float] = {}
    done = threading.Event()
    url = f"ws://{base[0]}:{base[1]}/ws/alerts?token={AccessToken.for_user(user)}"

    def listen(socket: Any) -> None:
        try:
            while len(received) < count:
                message = json.loads(socket.recv(timeout=30))
                if message["type"] == "alert" and message["alert"]["kind"] == "swarm":
                    received.setdefault(message["hive"], time.perf_counter())
        except Exception:  # noqa: BLE001 - a timeout ends the measurement
            pass
        done.set()

    conn = http.client.HTTPConnection(*base, timeout=30)

    def post(key: str, readings: list[dict[str, Any]]) -> None:
        body = json.dumps({"readings": readings}).encode()
        conn.request(
            "POST", "/telemetry", body, {"Content-Type": "application/json", "X-Device-Key": key}
        )
        response = conn.getresponse()
        response.read()
        if response.status not in (200, 201):
            raise RuntimeError(f"POST /telemetry: {response.status}")

    now = datetime.now(UTC).replace(microsecond=0)
    # A baseline: ten minutes at 40 kg.
    for _, key in hives:
        post(
            key,
            [
                {"time": iso_time(now - timedelta(minutes=12 - i)), "weight": 40.0}
                for i in range(10)
            ],
        )
    sent: dict[int, float] = {}
    with connect(url, open_timeout=10, max_size=None) as socket:
        assert json.loads(socket.recv(timeout=10))["type"] == "open"
        listener = threading.Thread(target=listen, args=(socket,), daemon=True)
        listener.start()
        for hive, key in hives:
            sent[hive.pk] = time.perf_counter()
            post(key, [{"time": iso_time(now - timedelta(minutes=1)), "weight": 37.5}])
            time.sleep(0.01)
        done.wait(timeout=30)
    conn.close()
    latencies = sorted((received[pk] - sent[pk]) * 1000 for pk in sent if pk in received)
    if not latencies:
        bench.stdout.write("  swarm -> alert on WS /ws/alerts: no alert arrived")
        return
    p50 = latencies[len(latencies) // 2]
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
    bench.stdout.write(
        f"  swarm -> alert on WS /ws/alerts: {len(latencies)}/{count} alerts, "
        f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {latencies[-1]:.1f} ms"
    )
