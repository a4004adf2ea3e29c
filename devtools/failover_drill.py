"""Failover drill: stop the primary of each database under device ingest, then count.

    python -m devtools.failover_drill [--devices 60] [--no-install]

Builds, in a throwaway folder under .localdb/, what docs/scaling.md "Failover" describes
for production: a pg_auto_failover monitor and two PostgreSQL nodes for each database
(formation ``default`` for the entities, ``telemetry`` for the readings), every server
on 127.0.0.1 only. BeeAPI runs under daphne with multi-host URLs
(``postgresql://…@127.0.0.1:p1,127.0.0.1:p2/db?target_session_attrs=read-write``) and
many devices post one reading per request through ``POST /telemetry``. Each device
re-sends the same reading (same time) until it gets 200 or 201, so a reading stored
before its answer was lost comes back as a duplicate (200) and is never stored twice.

The drill stops the primary of the entity database (``pg_autoctl stop``), waits for the
monitor to promote the other node, keeps ingesting, does the same to the telemetry
database, then stops the devices and counts. Its last line is::

    SUMMARY sent=<n> stored=<n> lost=<n> duplicated=<n> recovery_s=<s>

sent: readings the devices made; stored: those found in the telemetry database; lost:
sent and not stored; duplicated: rows beyond one per (device, time); recovery_s: the
longest time any device went without a successful post after a primary stopped.

Needs ``pg_autoctl`` (Debian: postgresql-<major>-auto-failover), installed with apt-get
when absent unless --no-install (``make test`` runs the drill only where it is
installed). The monitor checks nodes every second and the keepers give up a lost
monitor after 4 s, rather than pg_auto_failover's 5 s and 20 s defaults (see
FAST_FAILOVER): the drill measures BeeAPI's recovery, and a production monitor may keep
slower, calmer settings. Bounded: about two minutes, loopback only.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from core.times import iso_time
from devtools import localpg
from devtools.devserver import DaphneProcess

ROOT = Path(__file__).resolve().parent.parent
USER, PASSWORD = localpg.USER, localpg.PASSWORD
# formation -> database: the entity database in pg_auto_failover's ``default`` formation.
FORMATIONS = {"default": "beeapi", "telemetry": "beeapi_telemetry"}
# Monitor settings (pg_auto_failover's defaults in the comments): how fast an unreachable
# primary is noticed, and how long its standby waits before taking over. A primary cut
# off from the monitor stops itself after the keepers' network_partition_timeout, which
# must stay below primary_demote_timeout so that two primaries never take writes.
FAST_FAILOVER = {
    "pgautofailover.health_check_period": "1000",  # 5000 ms
    "pgautofailover.health_check_timeout": "1000",  # 5000 ms
    "pgautofailover.health_check_max_retries": "1",  # 2
    "pgautofailover.health_check_retry_delay": "500",  # 2000 ms
    "pgautofailover.node_considered_unhealthy_timeout": "3000",  # 20000 ms
    "pgautofailover.primary_demote_timeout": "6000",  # 30000 ms
}
NETWORK_PARTITION_TIMEOUT_S = "4"  # keepers; 20 s by default
STARTED = time.monotonic()


def log(message: str) -> None:
    print(f"[drill {time.monotonic() - STARTED:6.1f}s] {message}", flush=True)


def pg_autoctl_missing() -> str | None:
    """Why the drill cannot run here, or None when pg_autoctl is installed."""
    if shutil.which("pg_autoctl") is None:
        return "pg_autoctl not installed (Debian: apt-get install postgresql-15-auto-failover)"
    return None


def install_pg_autoctl(bindir: Path) -> None:
    """pg_auto_failover for the machine's PostgreSQL, with apt-get, as devstack installs
    PostgreSQL, Redis and Mosquitto (only this drill needs it)."""
    major = bindir.parent.name
    package = f"postgresql-{major}-auto-failover"
    if not localpg.apt_install([package], "the failover drill needs pg_autoctl"):
        sys.exit(f"pg_autoctl not found and apt-get is not available: install {package}")


# --- the servers ------------------------------------------------------------------------


@dataclass
class Node:
    formation: str
    name: str
    datadir: Path
    port: int
    proc: subprocess.Popen | None = None
    stopped: bool = False


@dataclass
class Cluster:
    """A pg_auto_failover monitor and two nodes per formation, under ``scratch``."""

    scratch: Path
    bindir: Path
    monitor_port: int = 0
    monitor_proc: subprocess.Popen | None = None
    nodes: list[Node] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.server = localpg.LocalServer(self.scratch / "monitor", self.bindir)
        self.env = {
            **os.environ,
            "PATH": f"{self.bindir}:{os.environ.get('PATH', '')}",
            # pg_autoctl keeps its configuration and state files here, not in a home folder.
            "XDG_CONFIG_HOME": str(self.scratch / "config"),
            "XDG_DATA_HOME": str(self.scratch / "share"),
            "XDG_RUNTIME_DIR": str(self.scratch / "run"),
        }

    @property
    def monitor_uri(self) -> str:
        return f"postgresql://autoctl_node@127.0.0.1:{self.monitor_port}/pg_auto_failover"

    def _logfile(self, name: str) -> Path:
        return self.scratch / f"{name}.log"

    def _autoctl(self, *args: str) -> None:
        with self._logfile("pg_autoctl-commands").open("a") as out:
            subprocess.run(
                [*self.server.run_as, "pg_autoctl", *args],
                env=self.env,
                cwd=self.scratch,
                stdout=out,
                stderr=subprocess.STDOUT,
                check=True,
            )

    def _service(self, name: str, datadir: Path) -> subprocess.Popen:
        """``pg_autoctl run`` in a session of its own (Ctrl-C is ours to handle)."""
        return subprocess.Popen(
            [*self.server.run_as, "pg_autoctl", "run", "--pgdata", str(datadir)],
            env=self.env,
            cwd=self.scratch,
            stdout=self._logfile(name).open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def prepare(self) -> None:
        self.scratch.mkdir(parents=True)
        self.scratch.chmod(0o755)
        for sub in ("config", "share", "run"):
            (self.scratch / sub).mkdir(mode=0o700)
        if os.geteuid() == 0:  # pg_autoctl, like postgres, runs as the postgres account
            for path in [self.scratch, *self.scratch.iterdir()]:
                shutil.chown(path, self.server.os_user)

    def start_monitor(self) -> None:
        self.monitor_port = localpg.free_port()
        datadir = self.scratch / "monitor"
        self._autoctl(
            "create", "monitor", "--pgdata", str(datadir), "--pgctl", str(self.bindir / "pg_ctl"),
            "--pgport", str(self.monitor_port), "--hostname", "127.0.0.1",
            "--auth", "trust", "--no-ssl",
        )  # fmt: skip
        self._autoctl("config", "set", "--pgdata", str(datadir),
                      "postgresql.listen_addresses", "127.0.0.1")  # fmt: skip
        with (datadir / "postgresql.conf").open("a") as conf:
            conf.write("\n# failover drill\n")
            conf.write("".join(f"{key} = {value}\n" for key, value in FAST_FAILOVER.items()))
        self.monitor_proc = self._service("monitor", datadir)
        localpg.wait_until_ready(self.monitor_uri)
        for formation, dbname in FORMATIONS.items():
            if formation != "default":  # the monitor has the default formation already
                self._autoctl("create", "formation", "--monitor", self.monitor_uri,
                              "--formation", formation, "--kind", "pgsql",
                              "--dbname", dbname, "--enable-secondary")  # fmt: skip
        log(f"monitor on 127.0.0.1:{self.monitor_port}")

    def create_node(self, formation: str, letter: str) -> Node:
        """Create, configure and run one node (the second of a formation becomes its
        standby: pg_autoctl copies the primary with pg_basebackup)."""
        name = f"{formation}-{letter}"
        node = Node(formation, name, self.scratch / name, localpg.free_port())
        self._autoctl(
            "create", "postgres", "--pgdata", str(node.datadir),
            "--pgctl", str(self.bindir / "pg_ctl"), "--pgport", str(node.port),
            "--listen", "127.0.0.1", "--hostname", "127.0.0.1", "--name", name,
            "--formation", formation, "--dbname", FORMATIONS[formation],
            "--monitor", self.monitor_uri, "--auth", "trust", "--no-ssl",
        )  # fmt: skip
        self._autoctl("config", "set", "--pgdata", str(node.datadir),
                      "timeout.network_partition_timeout", NETWORK_PARTITION_TIMEOUT_S)  # fmt: skip
        node.proc = self._service(name, node.datadir)
        self.nodes.append(node)
        return node

    def states(self, formation: str) -> dict[int, tuple[str, str]]:
        """port -> (reported state, goal state) of each node, as the monitor sees them."""
        import psycopg

        with psycopg.connect(self.monitor_uri, connect_timeout=5) as conn:
            rows = conn.execute(
                "SELECT nodeport, reportedstate::text, goalstate::text"
                " FROM pgautofailover.node WHERE formationid = %s",
                (formation,),
            ).fetchall()
        return {port: (reported, goal) for port, reported, goal in rows}

    def wait_for(self, formation: str, wanted: set[tuple[int, str]], timeout: float) -> float:
        """Wait until each (port, state) of ``wanted`` is reported; seconds it took."""
        started = time.monotonic()
        while True:
            try:
                states = self.states(formation)
            except Exception:  # noqa: BLE001 - the monitor may be busy: ask again
                states = {}
            if all(states.get(port, ("",))[0] == state for port, state in wanted):
                return time.monotonic() - started
            if time.monotonic() - started > timeout:
                raise TimeoutError(f"{formation}: wanted {sorted(wanted)}, monitor has {states}")
            time.sleep(0.2)

    def up(self) -> None:
        self.start_monitor()
        firsts = [self.create_node(formation, "a") for formation in FORMATIONS]
        for node in firsts:
            self.wait_for(node.formation, {(node.port, "single")}, 90)
            self._app_role(node)
        seconds = [self.create_node(formation, "b") for formation in FORMATIONS]
        for first, second in zip(firsts, seconds, strict=True):
            wanted = {(first.port, "primary"), (second.port, "secondary")}
            self.wait_for(first.formation, wanted, 120)
            log(f"formation {first.formation}: primary :{first.port}, standby :{second.port}")

    def _app_role(self, node: Node) -> None:
        """BeeAPI's login (pg_autoctl's initdb has only the OS account's role), made on the
        first node before its standby copies it."""
        import psycopg

        url = f"postgresql://{self.server.os_user}@127.0.0.1:{node.port}/postgres"
        localpg.wait_until_ready(url, timeout=60)
        with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
            if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (USER,)).fetchone():
                conn.execute(f"CREATE ROLE {USER} LOGIN SUPERUSER PASSWORD '{PASSWORD}'")

    def url(self, formation: str) -> str:
        """The multi-host URL of a formation, as `pg_autoctl show uri` prints it."""
        hosts = ",".join(f"127.0.0.1:{n.port}" for n in self.nodes if n.formation == formation)
        return (
            f"postgresql://{USER}:{PASSWORD}@{hosts}/{FORMATIONS[formation]}"
            "?target_session_attrs=read-write"
        )

    def primary(self, formation: str) -> Node:
        states = self.states(formation)
        for node in self.nodes:
            if node.formation == formation and states.get(node.port, ("",))[0] in {
                "primary",
                "wait_primary",
                "single",
            }:
                return node
        raise RuntimeError(f"{formation}: no primary in {states}")

    def stop_node(self, node: Node) -> None:
        """``pg_autoctl stop``: the keeper and its PostgreSQL go (a fast shutdown)."""
        self._autoctl("stop", "--pgdata", str(node.datadir))
        node.stopped = True

    def down(self) -> None:
        services = [(n.datadir, n.proc) for n in self.nodes if not n.stopped]
        services.append((self.scratch / "monitor", self.monitor_proc))
        for datadir, proc in services:
            if proc is not None and proc.poll() is None:
                try:
                    self._autoctl("stop", "--pgdata", str(datadir))
                except subprocess.CalledProcessError:
                    pass
        for node in self.nodes:
            _wait_or_kill(node.proc)
        _wait_or_kill(self.monitor_proc)


def _wait_or_kill(proc: subprocess.Popen | None) -> None:
    if proc is None:
        return
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the session the drill started for it
        proc.wait(timeout=10)


# --- the devices ------------------------------------------------------------------------


@dataclass
class Device:
    """One gateway: a reading a tick, the same reading re-sent until 200 or 201."""

    device_id: str
    key: str
    sent: list[int] = field(default_factory=list)  # reading times, epoch seconds
    successes: list[float] = field(default_factory=list)  # monotonic time of each 200/201
    errors: int = 0
    unanswered: int | None = None  # a reading still unacknowledged when the drill ended


class Devices:
    INTERVAL_S = 1.0
    RETRY_S = 1.0  # a device retries after about a second (Retry-After says 5: see docs)

    def __init__(self, port: int, pairs: list[tuple[str, str]]) -> None:
        self.port = port
        self.devices = [Device(device_id, key) for device_id, key in pairs]
        self.stopping = threading.Event()
        self.deadline = float("inf")
        self.threads = [
            threading.Thread(target=self._run, args=(d,), daemon=True) for d in self.devices
        ]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def stop(self, grace_s: float = 45) -> None:
        """No new readings; each device finishes the one it is sending (within grace_s)."""
        self.deadline = time.monotonic() + grace_s
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=max(0.1, self.deadline - time.monotonic() + 5))

    def _post(self, conn: http.client.HTTPConnection, device: Device, body: bytes) -> int:
        headers = {"Content-Type": "application/json", "X-Device-Key": device.key}
        conn.request("POST", "/telemetry", body, headers)
        response = conn.getresponse()
        response.read()
        return response.status

    def _run(self, device: Device) -> None:
        rng = random.Random(device.device_id)
        time.sleep(rng.uniform(0, self.INTERVAL_S))  # devices are not in step
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
        while not self.stopping.is_set():
            # The reading's time is the device's tick, a whole second: unique per device.
            reading_time = int(time.time())
            if device.sent and reading_time <= device.sent[-1]:
                reading_time = device.sent[-1] + 1
            time.sleep(max(0.0, reading_time - time.time()))
            device.sent.append(reading_time)
            body = json.dumps(
                {
                    "time": iso_time(datetime.fromtimestamp(reading_time, UTC)),
                    "temperature": round(rng.uniform(33, 36), 2),
                }
            ).encode()
            while True:
                try:
                    status = self._post(conn, device, body)
                except (OSError, http.client.HTTPException):
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
                    status = 0
                if status in (200, 201):
                    device.successes.append(time.monotonic())
                    break
                device.errors += 1
                if time.monotonic() > self.deadline:
                    device.unanswered = reading_time
                    return
                time.sleep(self.RETRY_S * rng.uniform(0.8, 1.2))
            time.sleep(max(0.0, reading_time + self.INTERVAL_S - time.time()))
        conn.close()

    def counts(self) -> tuple[int, int, int]:
        """Readings made, readings acknowledged, error answers so far."""
        sent = sum(len(d.sent) for d in self.devices)
        acked = sum(len(d.successes) for d in self.devices)
        return sent, acked, sum(d.errors for d in self.devices)

    def recovery_s(self, stops: list[float], end: float) -> float:
        """The longest time a device went without a successful post after a stop."""
        worst = 0.0
        for device in self.devices:
            for stop in stops:
                later = [t for t in device.successes if t > stop]
                previous = stop
                for t in [*later, end]:
                    worst = max(worst, t - previous)
                    previous = t
                    if t >= end:
                        break
        return worst


# --- the drill --------------------------------------------------------------------------


SETUP_DEVICES = """
import json
from accounts.models import User
from apiary.services import apiary_create, hive_create
user = User.objects.create_user(email="drill@beeapi.invalid", password=None, name="Drill")
apiary = apiary_create(owner=user, name="Failover drill")
pairs = [hive_create(actor=user, apiary=apiary, name=f"drill-{n:04d}", device_id=f"drill-{n:04d}")
         for n in range(COUNT)]
print("DEVICES " + json.dumps([[hive.device_id, key] for hive, key in pairs]))
"""


def _devices(server: DaphneProcess, count: int) -> list[tuple[str, str]]:
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", SETUP_DEVICES.replace("COUNT", str(count))],
        cwd=ROOT,
        env=server.env,
        capture_output=True,
        text=True,
        check=True,
    )
    line = next(x for x in result.stdout.splitlines() if x.startswith("DEVICES "))
    return [tuple(pair) for pair in json.loads(line.removeprefix("DEVICES "))]


def _stored(url: str) -> list[tuple[str, int, int]]:
    import psycopg

    with psycopg.connect(url, connect_timeout=10) as conn:
        return conn.execute(
            "SELECT device_id, extract(epoch FROM time)::bigint, count(*) FROM readings"
            " WHERE device_id LIKE 'drill-%%' GROUP BY 1, 2"
        ).fetchall()


def _ingest_for(devices: Devices, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(min(5.0, max(0.0, end - time.monotonic())))
        sent, acked, errors = devices.counts()
        log(f"ingest: {sent} readings made, {acked} acknowledged, {errors} error answers")


def _fail_over(cluster: Cluster, devices: Devices, formation: str) -> float:
    """Stop the formation's primary; wait for the standby to take over and the devices
    to post again. Returns the moment of the stop (monotonic)."""
    old = cluster.primary(formation)
    other = next(n for n in cluster.nodes if n.formation == formation and n is not old)
    stopped_at = time.monotonic()
    log(f"stopping the {formation} primary {old.name} (:{old.port}) with pg_autoctl stop")
    cluster.stop_node(old)
    took = cluster.wait_for(formation, {(other.port, "wait_primary")}, 90)
    log(f"{formation}: {other.name} (:{other.port}) promoted {took:.1f} s after the stop")
    # Every device has posted successfully since the promotion (bounded).
    promoted = time.monotonic()
    deadline = promoted + 60
    while time.monotonic() < deadline:
        behind = [d for d in devices.devices if not d.successes or d.successes[-1] < promoted]
        if not behind:
            break
        time.sleep(0.5)
    log(
        f"{formation}: every device posting again {time.monotonic() - stopped_at:.1f} s "
        "after the stop"
    )
    return stopped_at


def run(device_count: int) -> int:
    bindir = localpg.ensure_bindir()
    scratch = ROOT / ".localdb" / f"failover-{os.getpid()}"
    cluster = Cluster(scratch, bindir)
    server: DaphneProcess | None = None
    devices: Devices | None = None
    try:
        cluster.prepare()
        cluster.up()
        env = {
            "POSTGRES_URL": cluster.url("default"),
            "TIMESCALE_URL": cluster.url("telemetry"),
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "SECURE_SSL_REDIRECT": "false",
            "ALLOWED_HOSTS": "127.0.0.1",
            "LOG_LEVEL": "WARNING",
            "MQTT_URL": "",
            "REDIS_URL": "",
        }
        log(f"POSTGRES_URL={env['POSTGRES_URL']}")
        log(f"TIMESCALE_URL={env['TIMESCALE_URL']}")
        server = DaphneProcess(
            env, scratch / "daphne.log", daphne_args=("--access-log", os.devnull)
        )
        for alias in ("default", "telemetry"):
            server.manage("migrate", "--database", alias, "--no-input")
        log("migrated both databases")
        pairs = _devices(server, device_count)
        server.start()
        log(f"daphne on 127.0.0.1:{server.port}; {len(pairs)} devices, one reading a second each")
        devices = Devices(server.port, pairs)
        devices.start()
        _ingest_for(devices, 8)
        stops = [_fail_over(cluster, devices, "default")]
        _ingest_for(devices, 5)
        stops.append(_fail_over(cluster, devices, "telemetry"))
        _ingest_for(devices, 5)
        log("stopping the devices (each finishes the reading it is sending)")
        devices.stop()
        end = time.monotonic()
        stored_rows = _stored(cluster.url("telemetry"))
    finally:
        if devices is not None:
            devices.stop(grace_s=0)
        if server is not None:
            server.stop()
        cluster.down()
    stored_keys = {(device_id, t) for device_id, t, _ in stored_rows}
    sent_keys = {(d.device_id, t) for d in devices.devices for t in d.sent}
    sent = len(sent_keys)
    stored = len(sent_keys & stored_keys)
    duplicated = sum(count - 1 for _, _, count in stored_rows)
    unanswered = sum(d.unanswered is not None for d in devices.devices)
    errors = devices.counts()[2]
    recovery = devices.recovery_s(stops, end)
    log(f"{errors} error answers retried; {unanswered} readings unanswered at the end")
    shutil.rmtree(scratch, ignore_errors=True)
    print(
        f"SUMMARY sent={sent} stored={stored} lost={sent - stored} duplicated={duplicated} "
        f"recovery_s={recovery:.1f}",
        flush=True,
    )
    return 0 if sent == stored and duplicated == 0 else 1


def _terminate(signum: int, frame: object) -> None:
    # `kill` (SIGTERM) cleans up like Ctrl-C: stop what the drill started, then exit.
    raise KeyboardInterrupt


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.failover_drill")
    parser.add_argument("--devices", type=int, default=60, help="devices posting (default 60)")
    parser.add_argument(
        "--no-install", action="store_true", help="never apt-get install pg_autoctl"
    )
    args = parser.parse_args(argv)
    reason = pg_autoctl_missing()
    if reason:
        if args.no_install:
            print(f"SKIP {reason}", flush=True)
            return 0
        install_pg_autoctl(localpg.ensure_bindir())
    signal.signal(signal.SIGTERM, _terminate)
    return run(args.devices)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
