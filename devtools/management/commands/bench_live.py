"""python manage.py bench_live — live-stream latency with many open sockets.

A benchmark, not a test: it prints figures. Loopback only and bounded (--sockets,
--posts, a timeout per post). It starts one daphne process on 127.0.0.1 (--servers N:
N of them, the sockets spread evenly, the posts in turn, which needs Redis), opens
--sockets WebSockets on one hive, then posts --posts single readings to POST /telemetry
one after another and measures, for every socket, the time from the POST returning to
that socket receiving the reading, and from the POST being sent. The server publishes
a request's readings once its answer is written (core.asgi_http.after_response), so
the first figure is the fan-out and the second adds the POST itself.
It prints each server process's resident memory when it starts, with every socket open,
after the posts and after --hold seconds more with the sockets open, and uses the Redis
channel layer when REDIS_URL is set (or --redis URL).

The sockets are read by --client-processes processes (default: one per CPU, at most 4),
so the bench's own reading of 2,000 frames per post does not pass for the server's
fan-out. They time each frame with the system-wide monotonic clock the posting process
uses, and a post follows the previous one when every socket has it (or --timeout).
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import statistics
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import User
from apiary.device_keys import device_key_generate, device_key_hash
from apiary.models import Apiary, Hive
from devtools.devserver import DaphneProcess, cpu_seconds, rss_mib
from telemetry.validation import iso_time

BENCH_EMAIL = "bench-live@beeapi.invalid"
DEVICE_ID = "bench-live-001"


def _url(alias: str) -> str:
    s = connections[alias].settings_dict
    return f"postgresql://{s['USER']}:{s['PASSWORD']}@{s['HOST']}:{s['PORT']}/{s['NAME']}"


def _pid(server: DaphneProcess) -> int:
    """The process id of a started server (start() sets proc)."""
    assert server.proc is not None
    return server.proc.pid


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


class Command(BaseCommand):
    help = "Measure POST /telemetry -> WebSocket delivery latency with many open sockets."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--sockets", type=int, default=500)
        parser.add_argument("--posts", type=int, default=100)
        parser.add_argument("--timeout", type=float, default=5.0, help="seconds to wait per post")
        parser.add_argument("--redis", default=None, help="Redis URL (default REDIS_URL)")
        parser.add_argument(
            "--servers",
            type=int,
            default=1,
            help="daphne processes the sockets spread over (more than one needs Redis)",
        )
        parser.add_argument(
            "--hold", type=float, default=30.0, help="seconds to keep the sockets open at the end"
        )
        parser.add_argument(
            "--client-processes",
            type=int,
            default=min(4, os.cpu_count() or 1),
            help="processes that open and read the sockets",
        )

    def handle(self, *args: Any, sockets: int, posts: int, timeout: float, **options: Any) -> None:
        # Fresh local servers (a new checkout's first bench) have no tables yet.
        call_command("migrate", database="default", verbosity=0)
        call_command("migrate", database="telemetry", verbosity=0)
        redis = options["redis"] if options["redis"] is not None else settings.REDIS_URL
        count = max(1, options["servers"])
        if count > 1 and not redis:
            raise CommandError("--servers above 1 needs Redis (--redis URL or REDIS_URL)")
        hive, key, token = self._hive()
        self.hold = options["hold"]
        self.rss: list[tuple[str, list[float]]] = []
        self.from_sent: list[float] = []
        env = {
            "REDIS_URL": redis,
            "POSTGRES_URL": _url("default"),
            "TIMESCALE_URL": _url("telemetry"),
            "LIVE_MAX_SOCKETS_PER_USER": str(sockets + 10),
            "LIVE_MAX_SOCKETS_PER_PROCESS": str(sockets + 10),
            "LOG_LEVEL": "WARNING",
        }
        logs = [
            Path(tempfile.mkstemp(prefix="bench-live-", suffix=".log")[1]) for _ in range(count)
        ]
        with ExitStack() as stack:
            servers = [stack.enter_context(DaphneProcess(env, log)) for log in logs]
            layer = "Redis pub/sub" if redis else "in-memory"
            self.stdout.write(
                f"daphne on {', '.join(f'127.0.0.1:{server.port}' for server in servers)}"
                f" ({layer} channel layer); opening {sockets} sockets on hive {hive.pk}"
            )
            self.server_pids = [_pid(server) for server in servers]
            self._sample("started")
            latencies, missing, open_s = self._run(
                servers, hive.pk, key, token, sockets, posts, timeout, options["client_processes"]
            )
        ms = [v * 1000 for v in latencies]
        self.stdout.write(
            f"opened {sockets} sockets from {options['client_processes']} client process(es) in"
            f" {open_s:.1f} s; {posts} posts; {len(ms)} deliveries, {missing} missing"
        )
        if ms:
            self.stdout.write(
                self.style.SUCCESS(
                    f"POST return -> socket receive: p50 {_pct(ms, 50):.1f} ms, p90 {_pct(ms, 90):.1f} ms, "
                    f"p99 {_pct(ms, 99):.1f} ms, max {max(ms):.1f} ms, mean {statistics.fmean(ms):.1f} ms"
                )
            )
        if self.from_sent:
            sent_ms = [v * 1000 for v in self.from_sent]
            self.stdout.write(
                f"POST sent -> socket receive:   p50 {_pct(sent_ms, 50):.1f} ms, p90 "
                f"{_pct(sent_ms, 90):.1f} ms, p99 {_pct(sent_ms, 99):.1f} ms, max {max(sent_ms):.1f} ms"
            )
        posts_s, cpu = self.cpu
        # Every server sends every post to its sockets (sockets / count of them); the
        # POSTs it answered itself are counted in too.
        per_socket = [1e6 * used / (posts * sockets / count) for used in cpu[:count]]
        self.stdout.write(
            f"CPU during the {posts} posts ({posts_s:.1f} s): "
            + ", ".join(
                f"server {n + 1} {used:.1f} s ({us:.0f} us per socket and post)"
                for n, (used, us) in enumerate(zip(cpu[:count], per_socket, strict=True))
            )
            + "; client processes "
            + ", ".join(f"{used:.1f} s" for used in cpu[count:])
        )
        for n in range(count):
            rss = [(label, mib[n]) for label, mib in self.rss]
            first, opened, last = rss[0][1], rss[1][1], rss[-1][1]
            name = "server RSS" if count == 1 else f"server {n + 1} RSS"
            self.stdout.write(
                f"{name}: "
                + ", ".join(f"{label} {mib:.0f} MiB" for label, mib in rss)
                + f"; end vs all sockets open: {100 * (last / opened - 1):+.1f}%"
                f" (vs start {100 * (last / first - 1):+.1f}%)"
            )
        for log in logs:
            log.unlink(missing_ok=True)

    def _sample(self, label: str) -> None:
        self.rss.append((label, [rss_mib(pid) for pid in self.server_pids]))

    def _hive(self) -> tuple[Hive, str, str]:
        user = User.objects.filter(email=BENCH_EMAIL).first() or User.objects.create_user(
            email=BENCH_EMAIL, password=None
        )
        apiary, _ = Apiary.objects.get_or_create(owner=user, name="Bench (live)")
        key = device_key_generate()
        hive, _ = Hive.objects.update_or_create(
            device_id=DEVICE_ID,
            defaults={
                "apiary": apiary,
                "name": "Bench live",
                "device_key_hash": device_key_hash(key),
            },
        )
        return hive, key, str(AccessToken.for_user(user))

    def _run(
        self,
        servers: list[DaphneProcess],
        hive_id: int,
        key: str,
        token: str,
        count: int,
        posts: int,
        timeout: float,
        processes: int,
    ) -> tuple[list[float], int, float]:
        path = f"/ws/hive/{hive_id}/telemetry?token={token}"
        processes = max(1, min(processes, count))
        shares = [count // processes + (n < count % processes) for n in range(processes)]
        connections.close_all()  # the readers are forked: no shared database sockets
        context = multiprocessing.get_context("fork")
        pipes, readers = [], []
        started = time.perf_counter()
        for n, share in enumerate(shares):
            # Reader n opens its sockets on server n % len(servers): with as many readers
            # as servers (or a multiple), every server holds the same number of sockets.
            url = f"ws://127.0.0.1:{servers[n % len(servers)].port}{path}"
            ours, theirs = context.Pipe()
            reader = context.Process(target=_reader, args=(url, share, theirs), daemon=True)
            reader.start()
            pipes.append(ours)
            readers.append(reader)
        for pipe in pipes:
            message = pipe.recv()
            if message != "open":
                raise RuntimeError(f"a client process could not open its sockets: {message}")
        open_s = time.perf_counter() - started
        self._sample(f"{count} sockets open")
        # CPU time used during the posts, to tell the servers' fan-out from the clients'.
        watched = self.server_pids + [reader.pid for reader in readers if reader.pid]
        cpu_before = [cpu_seconds(pid) for pid in watched]
        posts_started = time.perf_counter()

        sent_at: dict[str, tuple[float, float]] = {}
        base = datetime.now(UTC) - timedelta(seconds=posts + 5)
        for n in range(posts):
            stamp = iso_time(base + timedelta(seconds=n))
            body = {"time": stamp, "temperature": 35.0 + n % 10 / 10, "weight": 40.0}
            sent = time.perf_counter()
            server = servers[n % len(servers)]
            status, text = server.post_json("/telemetry", body, {"X-Device-Key": key})
            returned = time.perf_counter()
            if status not in (200, 201):
                raise RuntimeError(f"POST /telemetry answered {status}: {text[:200]!r}")
            sent_at[stamp] = (sent, returned)
            for pipe in pipes:  # every socket has it, or the reader gave up waiting
                pipe.send(("wait", stamp, returned + timeout))
            for pipe in pipes:
                pipe.recv()
        posts_s = time.perf_counter() - posts_started
        self.cpu = (
            posts_s,
            [cpu_seconds(pid) - before for pid, before in zip(watched, cpu_before, strict=True)],
        )
        self._sample(f"after {posts} posts")
        time.sleep(self.hold)
        self._sample(f"{self.hold:g} s later")

        latencies: list[float] = []
        missing = 0
        for pipe, reader in zip(pipes, readers, strict=True):
            pipe.send(("stop",))
            received: list[dict[str, float]] = pipe.recv()
            reader.join(timeout=30)
            for got in received:
                for stamp, (sent, returned) in sent_at.items():
                    if stamp in got:
                        latencies.append(got[stamp] - returned)
                        self.from_sent.append(got[stamp] - sent)
                    else:
                        missing += 1
        return latencies, missing, open_s


def _reader(url: str, count: int, pipe: Any) -> None:
    """A client process: open ``count`` sockets, note when each reading arrives on each
    (time.perf_counter, the system-wide monotonic clock), answer the posting process."""
    try:
        asyncio.run(_read(url, count, pipe))
    except Exception as exc:  # noqa: BLE001 - reported to the posting process
        pipe.send(f"{type(exc).__name__}: {exc}")
        raise


async def _read(url: str, count: int, pipe: Any) -> None:
    from websockets.asyncio.client import connect

    received: list[dict[str, float]] = [{} for _ in range(count)]
    arrived: dict[str, int] = {}
    gate = asyncio.Semaphore(50)

    async def open_one() -> Any:
        async with gate:
            ws = await connect(url, open_timeout=30, max_queue=None)
            first = json.loads(await ws.recv())
            assert first["type"] == "history", first
            return ws

    sockets = await asyncio.gather(*(open_one() for _ in range(count)))

    async def reader(i: int, ws: Any) -> None:
        async for raw in ws:
            now = time.perf_counter()
            for reading in json.loads(raw)["readings"]:
                received[i][reading["time"]] = now
                arrived[reading["time"]] = arrived.get(reading["time"], 0) + 1

    tasks = [asyncio.create_task(reader(i, ws)) for i, ws in enumerate(sockets)]
    loop = asyncio.get_running_loop()
    pipe.send("open")
    while True:
        command = await loop.run_in_executor(None, pipe.recv)
        if command[0] == "stop":
            break
        _, stamp, deadline = command
        while arrived.get(stamp, 0) < count and time.perf_counter() < deadline:
            await asyncio.sleep(0.001)
        pipe.send("done")
    for task in tasks:
        task.cancel()
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    pipe.send(received)
