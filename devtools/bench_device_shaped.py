"""The device-shaped part of ``bench_telemetry`` (``--device-shaped``): gateways posting one
reading per request, as the field does, against what the same server does on a trivial
view and what one-row commits allow. Loopback only, bounded by --seconds per step.

The clients are raw HTTP/1.1 keep-alive sockets on threads of this process, one request
in flight each (as a gateway waits for its 201): cheap enough beside a server on the same
two cores, and the same clients drive both the trivial view and the ingest, so their cost
weighs on both figures alike.
"""

from __future__ import annotations

import itertools
import os
import socket
import statistics
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import psycopg

from telemetry.services import COPY_SQL, COPY_TYPES
from telemetry.validation import METRICS, iso_time

ROUNDS = 2
# What a hive's sensor sends each minute.
_VALUES = {"temperature": 35.1, "humidity": 57.5, "weight": 40.25, "battery": 3.95, "rssi": -91.0}
WARM_SECONDS = 1.0


def run(cmd: Any) -> None:
    options = cmd.options
    devices, clients, seconds = options["api_devices"], options["clients"], options["seconds"]
    _, _, hives = cmd._hives(load_hives=False)
    cmd._purge_fresh()
    keys = [key for _, key in hives]
    # One reading per device per "cycle" of len(keys) requests, a second apart, in the
    # last half hour: every reading is new, recent enough for the alerts to evaluate.
    host = b""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=20)
    ingest_counter = itertools.count()
    copy_counter = itertools.count()

    def ingest_request(_: int) -> bytes:
        n = next(ingest_counter)
        device, cycle = n % len(keys), n // len(keys)
        reading = {"time": iso_time(start + timedelta(seconds=cycle)), **_VALUES}
        body = orjson.dumps(reading)
        return (
            b"POST /telemetry HTTP/1.1\r\nHost: " + host + b"\r\nContent-Type: application/json\r\n"
            b"X-Device-Key: " + keys[device].encode() + b"\r\nContent-Length: "
            + str(len(body)).encode() + b"\r\n\r\n" + body
        )  # fmt: skip

    extra = {}
    if options["collect_ms"] is not None:
        extra["TELEMETRY_COLLECT_MS"] = str(options["collect_ms"])
    totals = {"trivial": [0, 0.0], "ingest": [0, 0.0], "ceiling": [0, 0.0]}
    cpu = {"trivial": 0.0, "ingest": 0.0, "ceiling": 0.0}
    latencies: list[float] = []
    with cmd._daphnes(count=1, **extra) as bases, psycopg.connect(cmd.telemetry) as conn:
        base = bases[0]
        host = f"{base[0]}:{base[1]}".encode()
        trivial = b"GET /favicon.ico HTTP/1.1\r\nHost: " + host + b"\r\n\r\n"
        _drive(base, lambda _: trivial, clients, WARM_SECONDS, 200, [])
        # Each device once first: devices post every minute, so in the steady state the
        # server knows their keys (apiary.selectors.device_by_key's cache).
        _drive(base, ingest_request, clients, None, 201, [], limit=len(keys))
        for _ in range(ROUNDS):
            for name, step in (
                ("trivial", lambda: _drive(base, lambda _: trivial, clients, seconds / ROUNDS, 200, [])),
                ("ingest", lambda: _drive(base, ingest_request, clients, seconds / ROUNDS, 201, latencies)),
                ("ceiling", lambda: _one_row_commits(conn, copy_counter, devices, start, seconds / ROUNDS)),
            ):  # fmt: skip
                before = _cpu_seconds(cmd.servers[0])
                count, elapsed = step()
                cpu[name] += _cpu_seconds(cmd.servers[0]) - before
                totals[name][0] += count
                totals[name][1] += elapsed
        per_commit = _readings_per_commit(
            conn, [f"bench-api-{n:04d}" for n in range(devices)], start
        )
    rate = {name: count / elapsed for name, (count, elapsed) in totals.items()}
    latencies.sort()
    cmd.stderr.write(
        f"device-shaped: {devices} devices x 1 reading per request, {clients} clients, one"
        f" daphne process, TELEMETRY_COLLECT_MS={options['collect_ms'] if options['collect_ms'] is not None else 'default'},"
        f" {seconds:g} s per step in {ROUNDS} rounds\n"
        f"  ingest {totals['ingest'][0]:,} readings, {per_commit:.1f} readings per commit,"
        f" latency p50 {statistics.median(latencies):.1f} ms p99"
        f" {latencies[int(0.99 * (len(latencies) - 1))]:.1f} ms\n"
        f"  trivial view {rate['trivial']:,.0f} requests/s; one-row commits (binary COPY, one"
        f" connection) {rate['ceiling']:,.0f} rows/s\n"
        f"  server CPU per request: trivial {1000 * cpu['trivial'] / totals['trivial'][0]:.2f} ms,"
        f" ingest {1000 * cpu['ingest'] / totals['ingest'][0]:.2f} ms; server busy"
        f" {100 * cpu['trivial'] / totals['trivial'][1]:.0f}% / {100 * cpu['ingest'] / totals['ingest'][1]:.0f}%"
        f" of a core"
    )  # fmt: skip
    cmd.stdout.write(
        f"device-shaped ingest: {rate['ingest']:,.0f} readings/s,"
        f" {100 * rate['ingest'] / rate['trivial']:.0f}% of the trivial view"
        f" ({rate['trivial']:,.0f} requests/s),"
        f" {100 * rate['ingest'] / rate['ceiling']:.0f}% of the one-row-commit ceiling"
    )


def _drive(
    base: tuple[str, int],
    request: Callable[[int], bytes],
    clients: int,
    seconds: float | None,
    expect: int,
    latencies: list[float],
    limit: int | None = None,
) -> tuple[int, float]:
    """``clients`` connections sending ``request(n)`` one at a time for ``seconds`` (or
    ``limit`` requests in all): (requests answered, seconds). Any other status than
    ``expect`` stops the run."""
    done = [0] * clients
    errors: list[str] = []
    deadline = time.perf_counter() + (seconds if seconds is not None else 600)
    tickets = itertools.count() if limit is not None else None

    def client(index: int) -> None:
        sock = socket.create_connection(base, timeout=30)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buffer = b""
        own: list[float] = []
        try:
            while time.perf_counter() < deadline and not errors:
                if tickets is not None and next(tickets) >= (limit or 0):
                    break
                data = request(index)
                sent = time.perf_counter()
                sock.sendall(data)
                status, body, buffer = _response(sock, buffer)
                own.append((time.perf_counter() - sent) * 1000)
                if status != expect:
                    errors.append(f"{status} {body[:200]!r}")
                    return
            done[index] = len(own)
        finally:
            sock.close()
            latencies.extend(own)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"expected {expect}, got {errors[0]}")
    return sum(done), elapsed


def _response(sock: socket.socket, buffer: bytes) -> tuple[int, bytes, bytes]:
    """(status, body, what follows) of the next response on a keep-alive connection."""
    while b"\r\n\r\n" not in buffer:
        buffer += _recv(sock)
    head, _, rest = buffer.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    headers = {
        k.strip().lower(): v.strip() for k, _, v in (line.partition(b":") for line in lines[1:])
    }
    if b"content-length" in headers:
        length = int(headers[b"content-length"])
        while len(rest) < length:
            rest += _recv(sock)
        return status, rest[:length], rest[length:]
    body = b""
    while True:  # chunked
        while b"\r\n" not in rest:
            rest += _recv(sock)
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        while len(rest) < size + 2:
            rest += _recv(sock)
        body, rest = body + rest[:size], rest[size + 2 :]
        if size == 0:
            return status, body, rest


def _cpu_seconds(server: Any) -> float:
    """CPU time (user + system) the server process has used so far."""
    fields = Path(f"/proc/{server.proc.pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _recv(sock: socket.socket) -> bytes:
    data = sock.recv(65536)
    if not data:
        raise ConnectionError("the server closed the connection")
    return data


def _one_row_commits(
    conn: psycopg.Connection, counter: Any, devices: int, start: datetime, seconds: float
) -> tuple[int, float]:
    """Binary COPY of one row per transaction on one connection for ``seconds``."""
    count = 0
    started = time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline:
        n = next(counter)
        at = start + timedelta(seconds=n // devices)
        row = (f"bench-copy-{n % devices:04d}", at, *(_VALUES.get(m) for m in METRICS))
        with conn.cursor().copy(COPY_SQL) as copy:
            copy.set_types(COPY_TYPES)
            copy.write_row(row)
        conn.commit()
        count += 1
    return count, time.perf_counter() - started


def _readings_per_commit(conn: psycopg.Connection, device_ids: list[str], start: datetime) -> float:
    """Readings stored per transaction (rows of one transaction share its xmin). Only the
    run's own time range: compressed chunks (an earlier load of the other steps) have no
    xmin to read."""
    row = conn.execute(
        "SELECT count(*), count(DISTINCT xmin::text) FROM readings"
        " WHERE device_id = ANY(%s) AND time >= %s",
        [device_ids, start],
    ).fetchone()
    conn.commit()
    rows, commits = row or (0, 0)
    return rows / max(commits, 1)
