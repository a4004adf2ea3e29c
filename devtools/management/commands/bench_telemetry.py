"""python manage.py bench_telemetry — ingestion and query figures on the local servers.

A benchmark, not a test: it prints numbers. It talks to loopback only and is bounded:

1. loads --hives hives x --days days of 1-minute readings by binary COPY (skipped when
   already loaded), so the queries run against a realistic table;
2. starts daphne on 127.0.0.1 (a free port) and posts --api-readings readings to
   ``POST /telemetry`` in --batch-size batches (validation, idempotent insert, live
   publish: the whole path), then binary-COPYs as many fresh readings straight into the
   same table with the same batch per transaction (the ceiling) and once more in one
   transaction;
3. times ``GET /hives/{id}/telemetry`` (24 h raw) and ``/hourly`` (7 days) over HTTP;
4. alerts: posts fresh readings (the last half hour, so every batch is evaluated) to one
   daphne with ALERTS_ENABLED=false and one with the default rules active, alternating,
   and prints both rates; then completes a swarm on --swarms hives, one at a time, and
   times each POST until its alert arrives on ``WS /ws/alerts``.

With ``--device-shaped`` it measures device-shaped traffic instead, on one daphne process
for --seconds per step: --api-devices (1,000) devices posting one reading per request from
--clients (16) connections, the same server's requests/s on a trivial view
(``GET /favicon.ico``) from as many connections, and binary COPY of one row per
transaction on one connection (the one-row-commit ceiling), in alternating rounds; it
prints one line (details on stderr):
``device-shaped ingest: <n> readings/s, <p>% of the trivial view (<m> requests/s), <q>% of
the one-row-commit ceiling``. ``--collect-ms`` sets the server's TELEMETRY_COLLECT_MS (0:
every request commits on its own).

Bench rows carry device ids ``bench-*``; ``--cleanup`` removes them and the bench user.
"""

from __future__ import annotations

import http.client
import json
import math
import os
import random
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import psycopg
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser
from django.db import connections
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.models import User
from apiary.devices import hive_rotate_device_key
from apiary.models import Apiary, Device, Hive
from core.databases import TELEMETRY_DB
from devtools.devserver import DaphneProcess, rss_mib
from telemetry.services import COPY_SQL, COPY_TYPES
from telemetry.timescale import hourly_refresh, timescale_version
from telemetry.validation import METRIC_TABLE, METRICS, iso_time

BENCH_EMAIL = "bench@beeapi.invalid"
LOAD_PREFIX = "bench-load-"
API_PREFIX = "bench-api-"
COPY_PREFIX = "bench-copy-"


def _conninfo(alias: str) -> str:
    s = connections[alias].settings_dict
    return (
        f"host={s['HOST'] or 'localhost'} port={s['PORT'] or 5432} dbname={s['NAME']} "
        f"user={s['USER']} password={s['PASSWORD']}"
    )


def _rows(device_index: int, start: datetime, count: int, step_s: int) -> Iterator[tuple]:
    """Cheap plausible readings for bulk loading (the simulator is richer but slower):
    (time, *METRICS), as the simulator's sensor sends them (no outside probe, no SNR)."""
    rng = random.Random(device_index)
    base_weight = rng.uniform(35, 60)
    rssi = rng.uniform(-110, -70)
    t0 = start.timestamp()
    for i in range(count):
        stamp = t0 + i * step_s
        phase = 2 * math.pi * (stamp % 86400) / 86400
        values = {
            "temperature": 35.0 + 0.35 * math.sin(phase) + rng.gauss(0, 0.08),
            "humidity": 57.0 + 3.5 * math.sin(phase + 1) + rng.gauss(0, 0.5),
            "weight": base_weight + 0.02 * (i / 1440) - 0.6 * max(0.0, math.sin(phase - 1)),
            "sound_level": 36.0 + 10 * max(0.0, math.sin(phase - 1.6)) + rng.gauss(0, 1.5),
            "battery": 3.9 + 0.2 * max(0.0, math.sin(phase - 1.6)),
            "rssi": float(round(rssi + rng.gauss(0, 2.0))),
        }
        yield (datetime.fromtimestamp(stamp, UTC), *(values.get(m) for m in METRICS))


def _pid(server: DaphneProcess) -> int:
    """The process id of a started server (start() sets proc)."""
    assert server.proc is not None
    return server.proc.pid


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


class Command(BaseCommand):
    help = "Benchmark telemetry ingestion (API vs binary COPY) and queries over HTTP."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--hives", type=int, default=100)
        parser.add_argument("--days", type=int, default=30)
        parser.add_argument("--api-readings", type=int, default=200_000)
        parser.add_argument("--batch-size", type=int, default=1000)
        # Many devices, few readings each: the fresh data stays within the last day or two,
        # in chunks that compression has not reached.
        parser.add_argument(
            "--api-devices", type=int, default=None, help="100 (1000 device-shaped)"
        )
        parser.add_argument(
            "--clients",
            type=int,
            default=None,
            help="concurrent HTTP clients: 4 (16 device-shaped)",
        )
        parser.add_argument(
            "--servers", type=int, default=1, help="daphne processes the clients spread over"
        )
        parser.add_argument("--queries", type=int, default=100, help="timed requests per query")
        parser.add_argument(
            "--alert-readings",
            type=int,
            default=100_000,
            help="readings posted with alerts off and as many with them on",
        )
        parser.add_argument("--swarms", type=int, default=200, help="swarm alerts timed")
        parser.add_argument("--cleanup", action="store_true", help="delete bench data and exit")
        parser.add_argument(
            "--queries-only",
            action="store_true",
            help="load the history (if not there) and time the two queries against their"
            " in-process floor; no ingest, no alerts",
        )
        parser.add_argument(
            "--device-shaped",
            action="store_true",
            help="one reading per request from many devices against the trivial view and the"
            " one-row-commit ceiling; prints one line",
        )
        parser.add_argument(
            "--seconds", type=float, default=10.0, help="device-shaped: seconds per measured step"
        )
        parser.add_argument(
            "--collect-ms",
            type=int,
            default=None,
            help="device-shaped: the server's TELEMETRY_COLLECT_MS (default: its setting)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        shaped = options["device_shaped"]
        if options["api_devices"] is None:
            options["api_devices"] = 1000 if shaped else 100
        if options["clients"] is None:
            options["clients"] = 16 if shaped else 4
        self.options = options
        self.telemetry = _conninfo(TELEMETRY_DB)
        if options["cleanup"]:
            self._cleanup()
            return
        call_command("migrate", database="default", verbosity=0)
        call_command("migrate", database=TELEMETRY_DB, verbosity=0)
        if shaped:
            from devtools.bench_device_shaped import run

            run(self)
            return
        version = timescale_version()
        mode = f"TimescaleDB {version}" if version else "plain PostgreSQL"
        cpus = os.cpu_count()
        self.stdout.write(f"bench_telemetry: telemetry storage {mode}, {cpus} CPU(s)")
        user, load_hives, api_hives = self._hives()
        self._load(load_hives)
        if options["queries_only"]:
            with self._daphnes(1) as bases:
                self._queries(bases[0], user, load_hives[0])
            return
        self._purge_fresh()
        with self._daphnes() as bases:
            self._ingest(bases, api_hives)
            self._queries(bases[0], user, load_hives[0])
        self._alerts(user)

    # --- data ---------------------------------------------------------------------------

    def _hives(self, load_hives: bool = True) -> tuple[User, list[Hive], list[tuple[Hive, str]]]:
        user = User.objects.filter(email=BENCH_EMAIL).first() or User.objects.create_user(
            email=BENCH_EMAIL, password=None, name="Benchmark"
        )
        apiary, _ = Apiary.objects.get_or_create(owner=user, name="Benchmark apiary")
        count = self.options["hives"] if load_hives else 0
        load = [self._hive(apiary, f"{LOAD_PREFIX}{n:04d}") for n in range(count)]
        api = []
        for n in range(self.options["api_devices"]):
            hive = self._hive(apiary, f"{API_PREFIX}{n:04d}")
            # Keys are shown once: fresh ones per run, through the service (which also
            # forgets the cached old key).
            api.append((hive, hive_rotate_device_key(hive=hive, actor=user)))
        return user, load, api

    def _hive(self, apiary: Apiary, device_id: str) -> Hive:
        hive, _ = Hive.objects.get_or_create(
            device_id=device_id, defaults={"apiary": apiary, "name": device_id}
        )
        return hive

    def _load(self, hives: list[Hive]) -> None:
        days = self.options["days"]
        per_hive = days * 1440
        end = datetime.now(UTC).replace(second=0, microsecond=0)
        start = end - timedelta(days=days)
        with psycopg.connect(self.telemetry) as conn:
            existing: dict[str, int] = dict(
                conn.execute(
                    "SELECT device_id, count(*) FROM readings WHERE device_id LIKE %s"
                    " AND time >= %s GROUP BY device_id",
                    [LOAD_PREFIX + "%", end - timedelta(days=days, hours=-24)],
                ).fetchall()
            )
        todo = [h for h in hives if existing.get(h.device_id, 0) < per_hive - 2 * 1440]
        if not todo:
            self.stdout.write(f"load: {len(hives)} hives x {days} days already loaded")
            return
        self.stdout.write(
            f"load: {len(todo)} hives x {days} days of 1-minute readings ({len(todo) * per_hive:,}"
            " rows) by binary COPY..."
        )
        started = time.perf_counter()
        with psycopg.connect(self.telemetry) as conn:
            # The compression policy may compress the first hives' chunks while the later
            # ones load; replacing a partial load must not stop at TimescaleDB's
            # decompression limit (a placeholder setting on plain PostgreSQL).
            conn.execute("SET timescaledb.max_tuples_decompressed_per_dml_transaction = 0")
            for number, hive in enumerate(todo, start=1):
                conn.execute("DELETE FROM readings WHERE device_id = %s", [hive.device_id])
                with conn.cursor().copy(COPY_SQL) as copy:
                    copy.set_types(COPY_TYPES)
                    for row in _rows(hive.pk, start, per_hive, 60):
                        copy.write_row((hive.device_id, *row))
                conn.commit()
                if number % 10 == 0 or number == len(todo):
                    elapsed = time.perf_counter() - started
                    self.stdout.write(
                        f"  {number}/{len(todo)} hives, {number * per_hive / elapsed:,.0f} rows/s"
                    )
            conn.execute("ANALYZE readings")
            conn.commit()
        if hourly_refresh(start, end):
            self.stdout.write("  readings_hourly materialized for the loaded range")
            # Compress the old chunks now, as the policy would, rather than in the
            # background while the measurements run.
            with psycopg.connect(self.telemetry, autocommit=True) as conn:
                for (job,) in conn.execute(
                    "SELECT job_id FROM timescaledb_information.jobs"
                    " WHERE proc_name = 'policy_compression' AND hypertable_name = 'readings'"
                ).fetchall():
                    conn.execute("CALL run_job(%s)", [job])
            self.stdout.write("  chunks older than TELEMETRY_COMPRESS_AFTER_DAYS compressed")

    def _purge_fresh(self) -> None:
        """Remove every reading of earlier runs' ingestion steps.

        All of them, not only recent ones: a run with a larger --api-readings reaches
        further back (1.5 M readings over 100 devices is ten days of minutes), and the
        next run's POSTs would come back as duplicates. Older ones may be compressed.
        """
        devices = [f"{API_PREFIX}{n:04d}" for n in range(self.options["api_devices"])]
        devices += [f"{COPY_PREFIX}{n:04d}" for n in range(self.options["api_devices"])]
        with psycopg.connect(self.telemetry) as conn:
            conn.execute("SET timescaledb.max_tuples_decompressed_per_dml_transaction = 0")
            conn.execute("DELETE FROM readings WHERE device_id = ANY(%s)", [devices])

    def _fresh_batches(self, count: int, devices: int) -> list[tuple[int, datetime, int]]:
        """(device index, start, size) batches of readings not stored yet, recent minutes."""
        size = self.options["batch_size"]
        per_device = math.ceil(count / devices)
        end = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=1)
        start = end - timedelta(minutes=per_device)
        batches = []
        for device in range(devices):
            for offset in range(0, per_device, size):
                batches.append(
                    (device, start + timedelta(minutes=offset), min(size, per_device - offset))
                )
        return batches

    # --- ingestion ------------------------------------------------------------------------

    def _ingest(self, bases: list[tuple[str, int]], hives: list[tuple[Hive, str]]) -> None:
        """API and COPY in alternating rounds, so drift (checkpoints, autovacuum) hits both."""
        rounds = 3
        bodies = self._api_bodies(hives)
        copy_rows = self._copy_rows()
        api_n = api_s = copy_n = copy_s = 0.0
        rss_before: list[float] = []
        with psycopg.connect(self.telemetry) as conn:
            for r in range(rounds):
                n, seconds = self._post(bases, bodies[r::rounds])
                if r == 0:  # warm: after the first third of the readings
                    rss_before = [rss_mib(_pid(server)) for server in self.servers]
                api_n, api_s = api_n + n, api_s + seconds
                n, seconds = self._copy(conn, copy_rows[r::rounds])
                copy_n, copy_s = copy_n + n, copy_s + seconds
            conn.execute(
                "DELETE FROM readings WHERE device_id = ANY(%s) AND time >= %s",
                [sorted({rows[0][0] for rows in copy_rows}), min(rows[0][1] for rows in copy_rows)],
            )
            conn.commit()
            one_n, one_s = self._copy(conn, [[row for rows in copy_rows for row in rows]])
        rss_after = [rss_mib(_pid(server)) for server in self.servers]
        size = self.options["batch_size"]
        api, copy, copy_one = api_n / api_s, copy_n / copy_s, one_n / one_s
        self.stdout.write(
            f"POST /telemetry: {api_n:,.0f} readings in {len(bodies)} batches of {size} from "
            f"{self.options['clients']} client(s) to {len(bases)} server process(es), "
            f"{rounds} rounds alternating with COPY\n"
            f"  API ingest (HTTP, validation, idempotent insert): {api:>10,.0f} readings/s\n"
            f"  binary COPY, {size} rows per transaction:        {copy:>10,.0f} rows/s"
            f"   -> API at {100 * api / copy:.0f}%\n"
            f"  binary COPY, all in one transaction:             {copy_one:>10,.0f} rows/s"
            f"   -> API at {100 * api / copy_one:.0f}%\n"
            f"  server RSS after the first third -> at the end: "
            + ", ".join(
                f"{before:.0f} -> {after:.0f} MiB ({100 * (after / before - 1):+.1f}%)"
                for before, after in zip(rss_before, rss_after, strict=True)
            )
        )

    def _api_bodies(self, hives: list[tuple[Hive, str]]) -> list[tuple[str, bytes]]:
        bodies = []
        for device, start, size in self._fresh_batches(self.options["api_readings"], len(hives)):
            readings = [
                {
                    "time": iso_time(t),
                    **{
                        m.name: round(v, m.decimals + 1)
                        for m, v in zip(METRIC_TABLE, values, strict=True)
                        if v is not None
                    },
                }
                for t, *values in _rows(device, start, size, 60)
            ]
            bodies.append((hives[device][1], json.dumps({"readings": readings}).encode()))
        return bodies

    def _copy_rows(self) -> list[list[tuple]]:
        batches = self._fresh_batches(self.options["api_readings"], self.options["api_devices"])
        return [
            [(f"{COPY_PREFIX}{device:04d}", *row) for row in _rows(device, start, size, 60)]
            for device, start, size in batches
        ]

    def _post(
        self, bases: list[tuple[str, int]], bodies: list[tuple[str, bytes]]
    ) -> tuple[int, float]:
        clients = max(1, self.options["clients"])
        accepted: list[int] = []
        errors: list[str] = []

        def client(base: tuple[str, int], share: list[tuple[str, bytes]]) -> None:
            conn = http.client.HTTPConnection(*base, timeout=60)
            for key, body in share:
                headers = {"Content-Type": "application/json", "X-Device-Key": key}
                conn.request("POST", "/telemetry", body, headers)
                response = conn.getresponse()
                payload = response.read()
                if response.status != 201:
                    errors.append(f"{response.status} {payload[:200]!r}")
                    return
                accepted.append(json.loads(payload)["accepted"])
            conn.close()

        threads = [
            threading.Thread(target=client, args=(bases[i % len(bases)], bodies[i::clients]))
            for i in range(clients)
        ]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        if errors:
            raise RuntimeError(f"POST /telemetry failed: {errors[0]}")
        expected = sum(len(json.loads(body)["readings"]) for _, body in bodies)
        if sum(accepted) != expected:
            raise RuntimeError(f"expected {expected} accepted, got {sum(accepted)}")
        return expected, elapsed

    def _copy(self, conn: psycopg.Connection, batches: list[list[tuple]]) -> tuple[int, float]:
        started = time.perf_counter()
        for rows in batches:
            with conn.cursor().copy(COPY_SQL) as copy:
                copy.set_types(COPY_TYPES)
                for row in rows:
                    copy.write_row(row)
            conn.commit()
        return sum(len(rows) for rows in batches), time.perf_counter() - started

    # --- queries --------------------------------------------------------------------------

    def _queries(self, base: tuple[str, int], user: User, hive: Hive) -> None:
        token = str(RefreshToken.for_user(user).access_token)
        headers = {"Authorization": f"Bearer {token}"}
        conn = http.client.HTTPConnection(*base, timeout=30)
        floors = self._floors(hive)
        for (label, path), (name, floor) in zip(
            (
                ("24 h raw   ", f"/hives/{hive.pk}/telemetry?limit=5000"),
                ("7 d hourly ", f"/hives/{hive.pk}/telemetry/hourly"),
            ),
            floors,
            strict=True,
        ):
            timings: list[float] = []
            rows = 0
            for n in range(self.options["queries"] + 5):
                started = time.perf_counter()
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                payload = response.read()
                elapsed = (time.perf_counter() - started) * 1000
                if response.status != 200:
                    raise RuntimeError(f"GET {path}: {response.status} {payload[:200]!r}")
                if n >= 5:  # the first few warm the pool and caches
                    timings.append(elapsed)
                    rows = len(json.loads(payload)["results"])
            self.stdout.write(
                f"GET {label} ({rows:>4} rows, {len(payload) // 1024:>3} KiB): "
                f"p50 {statistics.median(timings):6.1f} ms   p95 {_percentile(timings, 0.95):6.1f} ms"
            )
            p95 = _percentile(timings, 0.95)
            self.stdout.write(f"{name} p95 {p95:.1f} ms = {p95 / floor:.1f}x the in-process floor")
        self._rest(conn, user, hive)
        conn.close()

    def _rest(self, conn: http.client.HTTPConnection, user: User, hive: Hive) -> None:
        """Where the time above the floor goes, measured the same way (p50 / p95 over as
        many runs): the server answering a trivial view over the same connection (HTTP,
        daphne, Django's middleware; no authentication, no database), and the two lookups
        a telemetry page makes before its query, run in this process: the hive's device id
        among the user's hives (the entity database) and the device's calibrations (the
        telemetry database)."""
        from apiary.selectors import hive_device_id_visible
        from telemetry.calibration import timeline_load

        def timed(call: Any) -> list[float]:
            timings = []
            for n in range(self.options["queries"] + 5):
                started = time.perf_counter()
                call()
                if n >= 5:
                    timings.append((time.perf_counter() - started) * 1000)
            return timings

        def trivial() -> None:
            conn.request("GET", "/favicon.ico")
            conn.getresponse().read()

        parts = (
            ("trivial view over HTTP", timed(trivial)),
            (
                "hive lookup (entity db)",
                timed(lambda: hive_device_id_visible(user=user, hive_id=hive.pk)),
            ),
            ("calibrations lookup", timed(lambda: timeline_load(hive.device_id))),
        )
        self.stdout.write(
            "where the rest goes: "
            + ", ".join(
                f"{label} p50 {statistics.median(t):.1f} / p95 {_percentile(t, 0.95):.1f} ms"
                for label, t in parts
            )
        )

    def _floors(self, hive: Hive) -> list[tuple[str, float]]:
        """The in-process floor of each query: the same rows fetched by a plain psycopg
        connection in binary and encoded by orjson as the API's objects, p95 in ms over
        as many runs as the HTTP timing (no framework, no network, no authentication)."""
        from telemetry.selectors import HOURLY_COLUMNS
        from telemetry.validation import METRICS

        now = datetime.now(UTC)
        raw_columns = ("time", *METRICS)
        queries = (
            (
                "24 h raw",
                f"SELECT {', '.join(raw_columns)} FROM readings WHERE device_id = %s"
                " AND time >= %s ORDER BY time DESC LIMIT 5000",
                [hive.device_id, now - timedelta(hours=24)],
                raw_columns,
            ),
            (
                "7 d hourly",
                f"SELECT {', '.join(HOURLY_COLUMNS)} FROM readings_hourly WHERE device_id = %s"
                " AND bucket >= %s ORDER BY bucket DESC",
                [
                    hive.device_id,
                    (now - timedelta(days=7)).replace(minute=0, second=0, microsecond=0),
                ],
                HOURLY_COLUMNS,
            ),
        )
        floors = []
        with psycopg.connect(self.telemetry) as conn:
            for name, sql, params, columns in queries:
                timings = []
                for n in range(self.options["queries"] + 5):
                    started = time.perf_counter()
                    with conn.cursor(binary=True) as cursor:
                        cursor.execute(sql, params)
                        rows = cursor.fetchall()
                    orjson.dumps(
                        [dict(zip(columns, row, strict=True)) for row in rows],
                        option=orjson.OPT_UTC_Z,
                    )
                    if n >= 5:
                        timings.append((time.perf_counter() - started) * 1000)
                floors.append((name, _percentile(timings, 0.95)))
        return floors

    # --- alerts ---------------------------------------------------------------------------

    def _alerts(self, user: User) -> None:
        from devtools import bench_alerts

        bench_alerts.run(self, user)

    # --- plumbing -------------------------------------------------------------------------

    @contextmanager
    def _daphnes(self, count: int | None = None, **extra: str) -> Iterator[list[tuple[str, int]]]:
        """--servers daphne processes with production settings over plain HTTP on loopback."""
        env = {
            **extra,
            "DEBUG": "false",
            # The same key as this process: it signs the JWT of the query step.
            "SECRET_KEY": settings.SECRET_KEY,
            "SECURE_SSL_REDIRECT": "false",
            "LOG_LEVEL": "WARNING",
        }
        logdir = Path(tempfile.mkdtemp(prefix="bench-telemetry-"))
        servers = [
            DaphneProcess(env, logdir / f"daphne-{n}.log", daphne_args=("--access-log", os.devnull))
            for n in range(count or self.options["servers"])
        ]
        try:
            for server in servers:
                server.start()
                out = self.stderr if self.options.get("device_shaped") else self.stdout
                out.write(f"daphne on 127.0.0.1:{server.port}")
            self.servers = servers
            yield [("127.0.0.1", server.port) for server in servers]
        finally:
            for server in servers:
                server.stop()
            shutil.rmtree(logdir, ignore_errors=True)

    def _cleanup(self) -> None:
        with psycopg.connect(self.telemetry) as conn:
            deleted = conn.execute("DELETE FROM readings WHERE device_id LIKE 'bench-%'").rowcount
        Hive.objects.filter(device_id__startswith="bench-").delete()
        Device.objects.filter(device_id__startswith="bench-").delete()
        User.objects.filter(email=BENCH_EMAIL).delete()
        self.stdout.write(f"Removed {deleted:,} bench readings, the bench hives and user.")
