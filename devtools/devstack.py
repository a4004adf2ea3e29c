"""Bring up what BeeAPI needs, then run it: the engine behind ``make run`` and ``make test``.

    python -m devtools.devstack run            # local servers (kept), migrate, daphne :8000
    python -m devtools.devstack test [ARGS]    # throwaway servers, pytest ARGS
    python -m devtools.devstack manage ARGS    # manage.py against the `make run` servers

When POSTGRES_URL / TIMESCALE_URL are set they are used as they are; otherwise this
starts project-local PostgreSQL servers from the machine's binaries (installing them
with apt-get when absent) under .localdb/, on ports that leave 5432 alone. Likewise
Redis (REDIS_URL) and a Mosquitto broker with the dynamic-security plugin (MQTT_URL,
with MQTT_ADMIN_USERNAME and MQTT_ADMIN_PASSWORD): ``make run`` keeps them under
.localdb/run/, ``make test`` throws them away.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from beeapi.env import env_bool
from devtools import localmqtt, localpg

ROOT = Path(__file__).resolve().parent.parent
LOCALDB = ROOT / ".localdb"
# name, env variable, database, preferred port of the kept (make run) server
SERVERS = [
    ("entity", "POSTGRES_URL", "beeapi", 54320),
    ("telemetry", "TIMESCALE_URL", "beeapi_telemetry", 54330),
]


class Stack:
    def __init__(self, throwaway: bool) -> None:
        self.throwaway = throwaway
        self.started: list[localpg.LocalServer] = []
        self.scratch: Path | None = None
        # The dev-only app with the benchmark commands (beeapi/settings.py).
        self.env = {**os.environ, "BEEAPI_DEVTOOLS": "true"}
        self.telemetry_mode = "unknown"

    def up(self) -> None:
        for name, var, database, preferred in SERVERS:
            if name == "telemetry" and _single_database():
                # Readings beside the entity tables: beeapi.settings points the telemetry
                # alias at POSTGRES_URL; no server of its own.
                localpg.log("TELEMETRY_SAME_DATABASE: telemetry in the entity database")
                self.telemetry_mode = _describe_configured(self.env["POSTGRES_URL"])
                continue
            if os.environ.get(var):
                localpg.log(f"{var} is set: using it ({_redact(os.environ[var])})")
                if name == "telemetry":
                    self.telemetry_mode = _describe_configured(os.environ[var])
                continue
            url, ts_version = self._local(name, database, preferred)
            self.env[var] = url
            if name == "telemetry":
                self.telemetry_mode = (
                    f"TimescaleDB {ts_version}" if ts_version else "plain PostgreSQL"
                )
        localpg.log(f"telemetry server mode: {self.telemetry_mode}")

    def _local(self, name: str, database: str, preferred: int) -> tuple[str, str | None]:
        bindir = localpg.ensure_bindir()
        if self.throwaway:
            if self.scratch is None:
                LOCALDB.mkdir(exist_ok=True)
                self.scratch = LOCALDB / f"test-{os.getpid()}"
                shutil.rmtree(self.scratch, ignore_errors=True)
            server = localpg.LocalServer(self.scratch / name, bindir, throwaway=True)
        else:
            server = localpg.LocalServer(LOCALDB / "run" / name, bindir)
        if not server.initialized():
            server.init()
        port = server.running_port()
        if port is None:
            port = localpg.free_port(None if self.throwaway else preferred)
            server.start(port)
            self.started.append(server)
        else:
            localpg.log(f"reusing the running server on 127.0.0.1:{port} ({server.datadir})")
        admin_url = server.url(port, "postgres")
        localpg.wait_until_ready(admin_url)
        ts_version = localpg.ensure_database(
            admin_url, database, timescaledb=server.timescaledb_packaged
        )
        return server.url(port, database), ts_version

    def down(self) -> None:
        for server in reversed(self.started):
            server.stop()
        self.started.clear()
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)

    def manage(self, *args: str) -> None:
        subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, check=True)


def _single_database() -> bool:
    # Read as beeapi.settings reads it, so both agree on what "true" is.
    return env_bool("TELEMETRY_SAME_DATABASE", False) and not os.environ.get("TIMESCALE_URL")


def _redact(url: str) -> str:
    if "@" in url and ":" in url.split("@", 1)[0]:
        scheme_user, rest = url.split("@", 1)
        return scheme_user.rsplit(":", 1)[0] + ":***@" + rest
    return url


def _describe_configured(url: str) -> str:
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=5) as conn:
            row = conn.execute(
                "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'),"
                " current_setting('shared_preload_libraries') LIKE '%timescaledb%'"
            ).fetchone()
    except psycopg.Error as exc:
        return f"unreachable ({exc.__class__.__name__})"
    return "TimescaleDB" if all(row) else "plain PostgreSQL"


def cmd_run() -> int:
    stack = Stack(throwaway=False)
    stack.env.setdefault("DEBUG", "true")
    stack.env.setdefault("DJANGO_SETTINGS_MODULE", "beeapi.settings")
    host, port = "127.0.0.1", stack.env.get("PORT", "8000")
    daphne: subprocess.Popen | None = None
    worker: subprocess.Popen | None = None
    ingest: subprocess.Popen | None = None
    redis = RunRedis()
    mqtt = RunMqtt()
    try:
        stack.up()
        if not os.environ.get("REDIS_URL"):
            url = redis.up()
            if url:
                stack.env["REDIS_URL"] = url
        if not os.environ.get("MQTT_URL"):
            stack.env.update(mqtt.up())
        localpg.log("applying migrations to both databases")
        stack.manage("migrate", "--database", "default", "--no-input")
        stack.manage("migrate", "--database", "telemetry", "--no-input")
        # Compression, retention and refresh as the settings say now (TimescaleDB mode).
        stack.manage("telemetry_policies", "--apply")
        if stack.env.get("MQTT_URL"):
            # The devices' role, the ingest client; device clients of deleted hives go.
            mqtt_setup = [sys.executable, "manage.py", "mqtt_setup"]
            if subprocess.run(mqtt_setup, cwd=ROOT, env=stack.env, check=False).returncode:
                localpg.log("mqtt_setup failed: MQTT devices may not connect (see above)")
        base = f"http://{host}:{port}"
        print(
            f"""
  BeeAPI is starting on {base}  (Ctrl-C stops it and the servers it started)
    API            {base}/hives, {base}/apiaries, {base}/auth/token
    API docs       {base}/docs   (OpenAPI schema: {base}/schema)
    Admin          {base}/admin/
    Health         {base}/health
    Live stream    ws://{host}:{port}/ws/hive/<id>/telemetry, ws://{host}:{port}/ws/alerts
    Alerts worker  no-data checks, webhooks and email (printed here: console backend)
    MQTT broker    {stack.env.get("MQTT_URL") or "off (no mosquitto)"}   (a device: username its device_id, password its key)
    MQTT ingest    {"mqtt_ingest: beeapi/devices/<device_id>/readings and .../data.json" if stack.env.get("MQTT_URL") else "off"}
  In another terminal:
    make manage ARGS=createsuperuser      create an admin login
    make manage ARGS=seed_demo            a demo beekeeper with apiaries, hives and events
    make manage ARGS=dbstatus             tables, sizes and pool settings
""",
            flush=True,
        )
        # The alerts' clock (no-data) and postman (webhooks, email), beside the server.
        worker = subprocess.Popen(
            [sys.executable, "manage.py", "alerts_worker"], cwd=ROOT, env=stack.env
        )
        if stack.env.get("MQTT_URL"):
            # Devices' MQTT messages into the database (a stable client id: the broker
            # keeps what it has not acknowledged for the next start).
            ingest = subprocess.Popen(
                [sys.executable, "manage.py", "mqtt_ingest", "--client-id", "beeapi-ingest-dev"],
                cwd=ROOT,
                env=stack.env,
            )
        # WEB_CONCURRENCY daphne processes (default: one per core) on one socket.
        daphne = subprocess.Popen(
            [sys.executable, "manage.py", "serve", "--host", host, "--port", port],
            cwd=ROOT,
            env=stack.env,
        )
        return daphne.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        for process in (daphne, worker, ingest):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
        redis.down()
        mqtt.down()
        stack.down()


def ensure_browser() -> None:
    """Debian's Chromium and ChromeDriver for the end-to-end test of the live page."""
    if shutil.which("chromium") and shutil.which("chromedriver"):
        return
    if not localpg.apt_install(["chromium", "chromium-driver"], "browser tests need Chromium"):
        localpg.log("Chromium not available: the browser test will be skipped")


def _redis_server() -> str | None:
    """The machine's redis-server, installed with apt-get when absent (None if it can't be)."""
    if not shutil.which("redis-server"):
        localpg.apt_install(["redis-server"], "live streams across processes need Redis")
    return shutil.which("redis-server")


def _redis_alive(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _start_redis(server: str, port: int, datadir: Path | None) -> subprocess.Popen:
    args = [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    args += ["--loglevel", "warning"]
    if datadir is not None:
        args += ["--dir", str(datadir), "--logfile", str(datadir / "redis.log")]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 10
    while not _redis_alive(port):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"Redis did not start on 127.0.0.1:{port}")
        time.sleep(0.1)
    return proc


class RunRedis:
    """The project-local Redis of ``make run``: the channel layer, so a reading ingested
    by another process (``make manage ARGS="simulate_hives --live"``) reaches the sockets
    of the server. Like the PostgreSQL servers, under .localdb/run/, on 127.0.0.1 only;
    ``make manage`` uses it while ``make run`` is up."""

    PREFERRED_PORT = 63790

    def __init__(self, datadir: Path | None = None) -> None:
        self.datadir = datadir or LOCALDB / "run" / "redis"
        self.portfile = self.datadir / "port"
        self.proc: subprocess.Popen | None = None

    def running_url(self) -> str | None:
        try:
            port = int(self.portfile.read_text())
        except (OSError, ValueError):
            return None
        return f"redis://127.0.0.1:{port}/0" if _redis_alive(port) else None

    def up(self) -> str | None:
        url = self.running_url()
        if url:
            localpg.log(f"reusing the running Redis ({url})")
            return url
        server = _redis_server()
        if server is None:
            localpg.log("Redis not available: live streams stay within the server process")
            return None
        self.datadir.mkdir(parents=True, exist_ok=True)
        port = localpg.free_port(self.PREFERRED_PORT)
        self.proc = _start_redis(server, port, self.datadir)
        self.portfile.write_text(str(port))
        localpg.log(f"Redis on 127.0.0.1:{port} ({self.datadir})")
        return f"redis://127.0.0.1:{port}/0"

    def down(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.portfile.unlink(missing_ok=True)
            self.proc = None


class RunMqtt:
    """The project-local MQTT broker of ``make run`` (Mosquitto with the dynamic-security
    plugin): on 127.0.0.1 only, its configuration, clients, admin password and queued
    messages under .localdb/run/mosquitto; ``make manage`` uses it while ``make run`` is
    up. Without mosquitto (and no apt-get to install it) BeeAPI runs without MQTT."""

    PREFERRED_PORT = 18830

    def __init__(self, datadir: Path | None = None) -> None:
        self.broker = localmqtt.LocalBroker(
            datadir or LOCALDB / "run" / "mosquitto", persistent=True
        )
        self.started = False

    def running_env(self) -> dict[str, str]:
        port = self.broker.running_port()
        if port is None:
            return {}
        self.broker.port = port
        return self.broker.env

    def up(self) -> dict[str, str]:
        env = self.running_env()
        if env:
            localpg.log(f"reusing the running MQTT broker ({env['MQTT_URL']})")
            return env
        try:
            self.broker.start(self.PREFERRED_PORT)
        except RuntimeError as exc:
            localpg.log(f"{exc}: running without MQTT (MQTT_URL empty)")
            return {}
        self.started = True
        localpg.log(f"MQTT broker on {self.broker.url} ({self.broker.datadir})")
        return self.broker.env

    def down(self) -> None:
        if self.started:
            self.broker.stop()
            self.started = False


class ThrowawayMqtt:
    """A throwaway broker for ``make test``, given to the suite as BEEAPI_TEST_MQTT_URL,
    BEEAPI_TEST_MQTT_ADMIN_USERNAME and BEEAPI_TEST_MQTT_ADMIN_PASSWORD (the suite runs
    with MQTT off; tests/sensors turns it on against this broker). With MQTT_URL set,
    that broker is given instead, with MQTT_ADMIN_USERNAME and MQTT_ADMIN_PASSWORD."""

    def __init__(self) -> None:
        self.broker: localmqtt.LocalBroker | None = None
        self.tmpdir: str | None = None

    def up(self, env: dict[str, str]) -> None:
        if os.environ.get("MQTT_URL"):
            given = {
                "URL": os.environ["MQTT_URL"],
                "ADMIN_USERNAME": os.environ.get("MQTT_ADMIN_USERNAME", ""),
                "ADMIN_PASSWORD": os.environ.get("MQTT_ADMIN_PASSWORD", ""),
            }
        else:
            self.tmpdir = tempfile.mkdtemp(prefix="beeapi-test-mqtt-")
            self.broker = localmqtt.LocalBroker(Path(self.tmpdir))
            try:
                self.broker.start()
            except RuntimeError as exc:
                localpg.log(f"{exc}: the tests that need an MQTT broker will be skipped")
                self.down()
                return
            localpg.log(f"MQTT broker for tests on {self.broker.url}")
            given = {key.removeprefix("MQTT_"): value for key, value in self.broker.env.items()}
        env.update({f"BEEAPI_TEST_MQTT_{key}": value for key, value in given.items()})

    def down(self) -> None:
        if self.broker is not None:
            self.broker.stop()
            self.broker = None
        if self.tmpdir is not None:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = None


def start_redis(stack: Stack) -> subprocess.Popen | None:
    """A throwaway Redis for the two-process live-stream test (BEEAPI_TEST_REDIS_URL).

    The suite itself keeps the in-memory channel layer; only that test uses Redis.
    """
    if os.environ.get("REDIS_URL"):
        stack.env["BEEAPI_TEST_REDIS_URL"] = os.environ["REDIS_URL"]
        return None
    server = _redis_server()
    if server is None:
        localpg.log("Redis not available: the two-process live test will be skipped")
        return None
    port = localpg.free_port()
    proc = _start_redis(server, port, None)
    stack.env["BEEAPI_TEST_REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
    localpg.log(f"Redis for tests on 127.0.0.1:{port}")
    return proc


def cmd_test(args: list[str]) -> int:
    stack = Stack(throwaway=True)
    stack.env["BEEAPI_TELEMETRY_MODE_EXPECTED"] = ""
    redis: subprocess.Popen | None = None
    mqtt = ThrowawayMqtt()
    try:
        ensure_browser()
        stack.up()
        redis = start_redis(stack)
        mqtt.up(stack.env)
        stack.env["BEEAPI_TELEMETRY_MODE_EXPECTED"] = stack.telemetry_mode
        return subprocess.run(
            [sys.executable, "-m", "pytest", *args], cwd=ROOT, env=stack.env, check=False
        ).returncode
    except KeyboardInterrupt:
        return 130
    finally:
        if redis is not None:
            redis.terminate()
            redis.wait(timeout=10)
        mqtt.down()
        stack.down()


def cmd_manage(args: list[str]) -> int:
    stack = Stack(throwaway=False)
    stack.env.setdefault("DEBUG", "true")
    try:
        stack.up()
        # While `make run` is up, commands publish live readings through its Redis.
        url = None if os.environ.get("REDIS_URL") else RunRedis().running_url()
        if url:
            stack.env["REDIS_URL"] = url
        # And keep its MQTT broker's clients (mqtt_setup, hives made by seed_demo).
        if not os.environ.get("MQTT_URL"):
            stack.env.update(RunMqtt().running_env())
        return subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=stack.env, check=False
        ).returncode
    except KeyboardInterrupt:
        return 130
    finally:
        stack.down()  # only stops servers this command started itself


def _terminate(signum: int, frame: object) -> None:
    # `kill` (SIGTERM) cleans up like Ctrl-C: stop what we started, then exit.
    raise KeyboardInterrupt


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGTERM, _terminate)
    if not argv or argv[0] not in {"run", "test", "manage"}:
        print(__doc__)
        return 2
    command, rest = argv[0], argv[1:]
    if command == "run":
        return cmd_run()
    if command == "test":
        return cmd_test(rest)
    return cmd_manage(rest)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
