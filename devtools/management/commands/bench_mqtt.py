"""python manage.py bench_mqtt — MQTT ingest and single-reading HTTP ingest.

A benchmark, not a test: it prints figures. Loopback only and bounded (--devices,
--latency-messages, --http-seconds, a timeout on every wait). On the `make run` servers
(the devstack's PostgreSQL, Redis and mosquitto, or the URLs configured):

1. --devices simulated devices (hives of one bench account; default 10,000) each publish
   one reading in one message (QoS 1) to ``beeapi/devices/{device_id}/readings``, from
   --publishers processes, while one ``mqtt_ingest`` process stores them. It prints the
   readings/s from the first publish to the last reading committed, against the binary
   COPY ceiling of the same rows (1,000 per transaction) measured in the same run, before
   and after. The publishers connect as one bench client allowed to publish to every
   device topic: creating 10,000 broker clients is a setup cost, not the ingest.
2. Publish -> live socket: with daphne (and Redis when REDIS_URL is set) serving one
   socket on each of --latency-hives hives, --latency-messages messages published one
   after another; the time from publish to the socket receiving the reading, p50/p99.
3. HTTP: ``POST /telemetry`` with one reading per request (wrk, --http-connections
   connections, --http-seconds seconds, 100 devices in turn) against ``GET /`` (a view
   that renders a static page) on the same single daphne process.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import User
from apiary.device_keys import device_key_generate, device_key_hash
from apiary.models import Apiary, Hive
from core.databases import TELEMETRY_DB
from devtools import localpg
from devtools.devserver import ROOT, DaphneProcess
from sensors import broker
from telemetry.services import COPY_SQL, COPY_TYPES
from telemetry.validation import METRICS, iso_time

BENCH_EMAIL = "bench-mqtt@beeapi.invalid"
PREFIX = "bench-mqtt-"
BENCH_CLIENT = "beeapi-bench"
BENCH_ROLE = "beeapi-bench"


def _url(alias: str) -> str:
    s = connections[alias].settings_dict
    return f"postgresql://{s['USER']}:{s['PASSWORD']}@{s['HOST']}:{s['PORT']}/{s['NAME']}"


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def _device(n: int) -> str:
    return f"{PREFIX}{n:05d}"


class Command(BaseCommand):
    help = "Benchmark MQTT ingest (vs binary COPY), publish -> socket latency, HTTP ingest."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--devices", type=int, default=10_000)
        parser.add_argument("--publishers", type=int, default=2)
        parser.add_argument("--latency-hives", type=int, default=20)
        parser.add_argument("--latency-messages", type=int, default=300)
        parser.add_argument("--http-seconds", type=int, default=10)
        parser.add_argument("--http-connections", type=int, default=16)
        parser.add_argument("--timeout", type=float, default=180.0)
        parser.add_argument(
            "--skip", action="append", default=[], choices=["mqtt", "latency", "http"]
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.MQTT_URL:
            raise CommandError(
                "MQTT_URL is not set: run it with `make manage` (devstack starts a broker)."
            )
        call_command("migrate", database="default", verbosity=0)
        call_command("migrate", database=TELEMETRY_DB, verbosity=0)
        broker.broker_setup()
        self.options = options
        self.env = {
            "POSTGRES_URL": _url("default"),
            "TIMESCALE_URL": _url(TELEMETRY_DB),
            "REDIS_URL": settings.REDIS_URL,
            "LOG_LEVEL": "WARNING",
        }
        count = options["devices"]
        self.stdout.write(f"{count} bench devices...")
        self.user, self.keys = self._devices(count)
        self.publisher = self._publisher_credentials()
        if "mqtt" not in options["skip"]:
            self._throughput(count)
        if "latency" not in options["skip"]:
            self._latency()
        if "http" not in options["skip"]:
            self._http()

    # --- Setup ----------------------------------------------------------------------

    def _devices(self, count: int) -> tuple[User, dict[str, str]]:
        """The bench account's hives, created in bulk (no broker clients: the publishers
        use the bench client); keys for the first 100, which the HTTP part sends."""
        user = User.objects.filter(email=BENCH_EMAIL).first() or User.objects.create_user(
            email=BENCH_EMAIL, password=None
        )
        apiary, _ = Apiary.objects.get_or_create(owner=user, name="Bench (MQTT)")
        have = set(Hive.objects.filter(apiary=apiary).values_list("device_id", flat=True))
        Hive.objects.bulk_create(
            [
                Hive(
                    apiary=apiary, name=_device(n), device_id=_device(n), device_key_issued_to=user
                )
                for n in range(count)
                if _device(n) not in have
            ],
            batch_size=2000,
        )
        keys = {}
        for hive in Hive.objects.filter(device_id__in=[_device(n) for n in range(100)]):
            key = device_key_generate()
            Hive.objects.filter(pk=hive.pk).update(device_key_hash=device_key_hash(key))
            keys[hive.device_id] = key
        return user, keys

    def _publisher_credentials(self) -> tuple[str, int, str, str]:
        """A client that may publish to every device's topics (one connection plays
        many devices), made or reset at the broker through its dynamic-security API."""
        password = device_key_generate()
        acl = {"acltype": "publishClientSend", "topic": f"{broker.TOPIC_ROOT}/#", "allow": True}
        broker.admin_commands(
            [
                {"command": "createRole", "rolename": BENCH_ROLE, "acls": [acl]},
                {"command": "deleteClient", "username": BENCH_CLIENT},
                {
                    "command": "createClient",
                    "username": BENCH_CLIENT,
                    "password": password,
                    "roles": [{"rolename": BENCH_ROLE}],
                },
            ],
            allowed_errors=("Role already exists", "Client not found"),
        )
        params = broker.ingest_connect_params()
        return params.host, params.port, BENCH_CLIENT, password

    # --- 1. Throughput --------------------------------------------------------------

    def _copy_ceiling(self, count: int, at: datetime) -> float:
        rows = [
            (_device(n), at, 20.0 + n % 10, None, 40.0, *([None] * (len(METRICS) - 3)))
            for n in range(count)
        ]
        conn = connections[TELEMETRY_DB]
        conn.ensure_connection()
        raw = conn.connection
        started = time.perf_counter()
        for first in range(0, count, 1000):
            with raw.transaction(), raw.cursor().copy(COPY_SQL) as copy:
                copy.set_types(COPY_TYPES)
                for row in rows[first : first + 1000]:
                    copy.write_row(row)
        elapsed = time.perf_counter() - started
        with raw.transaction():
            raw.execute(
                "DELETE FROM readings WHERE device_id LIKE %s AND time = %s", [PREFIX + "%", at]
            )
        return count / elapsed

    def _stored(self, at: datetime) -> int:
        with connections[TELEMETRY_DB].cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM readings WHERE device_id LIKE %s AND time = %s",
                [PREFIX + "%", at],
            )
            return cursor.fetchone()[0]

    def _ingest_process(self, log: Path) -> subprocess.Popen:
        env = {**os.environ, **self.env}
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "mqtt_ingest", "--client-id", "beeapi-bench-ingest"],
            cwd=ROOT,
            env=env,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while "subscribed" not in log.read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise CommandError(f"mqtt_ingest did not start:\n{log.read_text()[-2000:]}")
            time.sleep(0.1)
        return proc

    def _throughput(self, count: int) -> None:
        base = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
        ceiling_before = self._copy_ceiling(count, base - timedelta(seconds=1))
        log = Path(tempfile.mkstemp(prefix="bench-mqtt-ingest-", suffix=".log")[1])
        proc = self._ingest_process(log)
        try:
            at = base
            stamp = iso_time(at)
            devices = [_device(n) for n in range(count)]
            shares = [
                devices[n :: self.options["publishers"]] for n in range(self.options["publishers"])
            ]
            connections.close_all()
            context = multiprocessing.get_context("fork")
            started = time.perf_counter()
            publishers = [
                context.Process(
                    target=_publish_all, args=(self.publisher, share, stamp), daemon=True
                )
                for share in shares
            ]
            for publisher in publishers:
                publisher.start()
            deadline = time.monotonic() + self.options["timeout"]
            stored = 0
            while stored < count and time.monotonic() < deadline:
                time.sleep(0.05)
                stored = self._stored(at)
            elapsed = time.perf_counter() - started
            for publisher in publishers:
                publisher.join(timeout=30)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        ceiling_after = self._copy_ceiling(count, base - timedelta(seconds=2))
        ceiling = (ceiling_before + ceiling_after) / 2
        rate = stored / elapsed
        self.stdout.write(
            f"binary COPY, 1,000 rows per transaction (the ceiling): {ceiling_before:,.0f} before,"
            f" {ceiling_after:,.0f} after, {ceiling:,.0f} rows/s"
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"MQTT, {count} devices x 1 reading per message, 1 mqtt_ingest process:"
                f" {stored}/{count} stored in {elapsed:.2f} s, {rate:,.0f} readings/s"
                f" ({100 * rate / ceiling:.0f}% of COPY)"
            )
        )
        log.unlink(missing_ok=True)

    # --- 2. Publish -> socket ---------------------------------------------------------

    def _latency(self) -> None:
        hives = list(
            Hive.objects.filter(
                device_id__in=[_device(n) for n in range(self.options["latency_hives"])]
            )
        )
        token = str(AccessToken.for_user(self.user))
        logs = [Path(tempfile.mkstemp(prefix="bench-mqtt-", suffix=".log")[1]) for _ in range(2)]
        proc = self._ingest_process(logs[0])
        arrivals: dict[str, float] = {}
        try:
            with DaphneProcess(
                {**self.env, "LIVE_MAX_SOCKETS_PER_USER": "1000"}, logs[1]
            ) as server:
                ready = threading.Event()
                done = threading.Event()
                urls = [
                    f"ws://127.0.0.1:{server.port}/ws/hive/{hive.pk}/telemetry?token={token}"
                    for hive in hives
                ]
                reader = threading.Thread(
                    target=lambda: asyncio.run(_read(urls, arrivals, ready, done)), daemon=True
                )
                reader.start()
                if not ready.wait(30):
                    raise CommandError("the live sockets did not open")
                client = _client(self.publisher)
                sent: dict[str, float] = {}
                base = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
                for n in range(self.options["latency_messages"]):
                    hive = hives[n % len(hives)]
                    stamp = iso_time(base + timedelta(seconds=n))
                    body = orjson.dumps({"time": stamp, "temperature": 34.5, "battery": 3.9})
                    sent[f"{hive.device_id}@{stamp}"] = time.perf_counter()
                    client.publish(broker.device_topics(hive.device_id)[0], body, qos=1)
                    time.sleep(0.02)
                deadline = time.monotonic() + 10
                while len(arrivals) < len(sent) and time.monotonic() < deadline:
                    time.sleep(0.05)
                done.set()
                client.disconnect()
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        ms = [(arrivals[k] - t) * 1000 for k, t in sent.items() if k in arrivals]
        if ms:
            self.stdout.write(
                self.style.SUCCESS(
                    f"publish -> live socket, {len(ms)}/{len(sent)} delivered over {len(hives)} sockets:"
                    f" p50 {_pct(ms, 50):.1f} ms, p99 {_pct(ms, 99):.1f} ms, max {max(ms):.1f} ms"
                )
            )
        for log in logs:
            log.unlink(missing_ok=True)

    # --- 3. HTTP --------------------------------------------------------------------

    def _http(self) -> None:
        if not shutil.which("wrk"):
            localpg.apt_install(["wrk"], "the HTTP part of bench_mqtt drives load with wrk")
        if not shutil.which("wrk"):
            self.stdout.write("wrk is not installed: HTTP part skipped")
            return
        script = Path(tempfile.mkstemp(prefix="bench-mqtt-", suffix=".lua")[1])
        start = int((datetime.now(UTC) - timedelta(days=200)).timestamp())
        keys = ", ".join(f'"{key}"' for key in self.keys.values())
        script.write_text(WRK_SCRIPT.read_text().replace("KEYS", keys).replace("START", str(start)))
        log = Path(tempfile.mkstemp(prefix="bench-mqtt-http-", suffix=".log")[1])
        seconds = self.options["http_seconds"]
        conns = self.options["http_connections"]
        with DaphneProcess(self.env, log) as server:

            def run(extra: list[str], path: str) -> float:
                out = subprocess.run(
                    [
                        "wrk",
                        "-t2",
                        f"-c{conns}",
                        f"-d{seconds}s",
                        "--latency",
                        *extra,
                        f"{server.base_url}{path}",
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
                if "Non-2xx or 3xx responses" in out:
                    raise CommandError(f"{path} answered errors under load:\n{out}")
                for line in out.splitlines():
                    if line.startswith("Requests/sec:"):
                        return float(line.split()[1])
                raise CommandError(out)

            run([], "/")  # warm up
            trivial = run([], "/")
            post = run(["-s", str(script)], "/telemetry")
            trivial_after = run([], "/")
        reference = (trivial + trivial_after) / 2
        self.stdout.write(
            f"GET / (the trivial view), 1 daphne process: {trivial:,.0f} and {trivial_after:,.0f} requests/s"
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"POST /telemetry, 1 reading per request, 1 daphne process: {post:,.0f} requests/s"
                f" ({100 * post / reference:.0f}% of the trivial view)"
            )
        )
        script.unlink(missing_ok=True)
        log.unlink(missing_ok=True)


# wrk's request generator (Lua): one reading per request, 100 devices in turn.
WRK_SCRIPT = Path(__file__).resolve().parent.parent.parent / "bench_mqtt_wrk.lua"


def _client(publisher: tuple[str, int, str, str]) -> Any:
    from paho.mqtt.client import CallbackAPIVersion, Client

    host, port, username, password = publisher
    client = Client(callback_api_version=CallbackAPIVersion.VERSION2)
    client.username_pw_set(username, password)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect(host, port)
    client.loop_start()
    return client


def _publish_all(publisher: tuple[str, int, str, str], devices: list[str], stamp: str) -> None:
    """A publisher process: one QoS 1 message per device, then wait for every PUBACK."""
    client = _client(publisher)
    infos = [
        client.publish(
            broker.device_topics(device_id)[0],
            orjson.dumps({"time": stamp, "temperature": 20.0, "weight": 40.0}),
            qos=1,
        )
        for device_id in devices
    ]
    for info in infos:
        info.wait_for_publish(timeout=60)
    client.disconnect()
    client.loop_stop()


async def _read(
    urls: list[str], arrivals: dict[str, float], ready: threading.Event, done: threading.Event
) -> None:
    from websockets.asyncio.client import connect

    sockets = []
    for url in urls:
        ws = await connect(url, open_timeout=30, max_queue=None)
        await ws.recv()  # the history
        sockets.append(ws)

    async def reader(ws: Any) -> None:
        async for raw in ws:
            now = time.perf_counter()
            message = orjson.loads(raw)
            for reading in message.get("readings", []):
                arrivals[f"{message['device_id']}@{reading['time']}"] = now

    tasks = [asyncio.create_task(reader(ws)) for ws in sockets]
    ready.set()
    while not done.is_set():
        await asyncio.sleep(0.05)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
