"""Project-local PostgreSQL servers built from the machine's PostgreSQL binaries.

Used by ``devtools/devstack.py`` (make run / make test) and by tests that need a server
of their own to stop and start. Standard library only, apart from psycopg for SQL.

A server here listens on 127.0.0.1 only, keeps its data in the folder it is given, and
has one superuser ``beeapi`` (password ``beeapi123``, as in the design's URLs). When the
machine has the TimescaleDB package, the server preloads it.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:  # imported where SQL is run: the servers themselves need only the stdlib
    import psycopg

USER = "beeapi"
PASSWORD = "beeapi123"


def log(message: str) -> None:
    print(f"[localpg] {message}", flush=True)


_Row = TypeVar("_Row")


def _one_row(cursor: psycopg.Cursor[_Row]) -> _Row:
    """The row of a query that always answers exactly one (a SELECT of expressions)."""
    row = cursor.fetchone()
    assert row is not None
    return row


def _version_key(path: str) -> tuple[int, ...]:
    parts = Path(path).parts
    for part in parts:
        if part.replace(".", "").isdigit():
            return tuple(int(p) for p in part.split("."))
    return (0,)


def find_bindir() -> Path | None:
    """The directory holding initdb/pg_ctl/postgres, newest PostgreSQL first."""
    if os.environ.get("PG_BINDIR"):
        return Path(os.environ["PG_BINDIR"])
    candidates = glob.glob("/usr/lib/postgresql/*/bin/initdb")  # Debian, Ubuntu
    candidates += glob.glob("/usr/pgsql-*/bin/initdb")  # RHEL family
    candidates += glob.glob("/opt/homebrew/opt/postgresql@*/bin/initdb")
    if candidates:
        return Path(max(candidates, key=_version_key)).parent
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def apt_install(packages: list[str], why: str) -> bool:
    """apt-get install ``packages`` on a Debian/Ubuntu machine; False where apt is absent."""
    if not shutil.which("apt-get"):
        return False
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    log(f"{why}: installing {' '.join(packages)} with apt-get (one time)...")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run([*sudo, "apt-get", "update", "-q"], check=True, env=env)
    subprocess.run(
        [*sudo, "apt-get", "install", "-y", "-q", "--no-install-recommends", *packages],
        check=True,
        env=env,
    )
    return True


def install_postgresql() -> None:
    if not apt_install(["postgresql"], "PostgreSQL binaries not found"):
        sys.exit(
            "PostgreSQL server binaries not found and apt-get is not available. Install "
            "PostgreSQL (initdb, pg_ctl) or set POSTGRES_URL and TIMESCALE_URL."
        )


def ensure_bindir() -> Path:
    bindir = find_bindir()
    if bindir is None:
        install_postgresql()
        bindir = find_bindir()
    if bindir is None:
        sys.exit("PostgreSQL was installed but initdb could not be found; set PG_BINDIR.")
    return bindir


def free_port(preferred: int | None = None) -> int:
    def is_free(port: int) -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                return False
            return True

    if preferred and is_free(preferred):
        return preferred
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LocalServer:
    """One PostgreSQL server whose data lives in ``datadir``."""

    datadir: Path
    bindir: Path
    throwaway: bool = False

    @property
    def run_as(self) -> list[str]:
        # initdb and postgres refuse to run as root; on a root shell (containers, CI) use
        # the unprivileged account that Debian's postgresql package creates.
        if os.geteuid() != 0:
            return []
        return ["runuser", "-u", self.os_user, "--"]

    @property
    def os_user(self) -> str:
        return "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name

    def _run(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run([*self.run_as, *args], **kwargs)

    @property
    def logfile(self) -> Path:
        return self.datadir.parent / f"{self.datadir.name}.log"

    @property
    def timescaledb_packaged(self) -> bool:
        # BEEAPI_TIMESCALEDB=off runs a plain-PostgreSQL telemetry server even where the
        # machine has the TimescaleDB package (to exercise both storage modes).
        if os.environ.get("BEEAPI_TIMESCALEDB", "").lower() in {"off", "0", "false", "no"}:
            return False
        pg_config = self.bindir / "pg_config"
        if not pg_config.exists():
            return False
        sharedir = subprocess.run(
            [str(pg_config), "--sharedir"], capture_output=True, text=True, check=False
        ).stdout.strip()
        return Path(sharedir, "extension", "timescaledb.control").exists()

    def initialized(self) -> bool:
        return (self.datadir / "PG_VERSION").exists()

    def init(self) -> None:
        self.datadir.parent.mkdir(parents=True, exist_ok=True)
        pwfile = self.datadir.parent / f".{self.datadir.name}.pw"
        pwfile.write_text(PASSWORD + "\n")
        if os.geteuid() == 0:
            shutil.chown(self.datadir.parent, self.os_user)
            shutil.chown(pwfile, self.os_user)
        log(f"initdb {self.datadir}")
        try:
            self._run(
                str(self.bindir / "initdb"),
                "-D",
                str(self.datadir),
                "-U",
                USER,
                f"--pwfile={pwfile}",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "-E",
                "UTF8",
                "--no-locale",
                check=True,
                stdout=subprocess.DEVNULL,
            )
        finally:
            pwfile.unlink(missing_ok=True)
        settings = [
            "listen_addresses = '127.0.0.1'",
            "unix_socket_directories = ''",
            "max_connections = 200",
        ]
        if self.throwaway:
            # Test servers hold nothing worth keeping: trade durability for speed.
            settings += ["fsync = off", "synchronous_commit = off", "full_page_writes = off"]
        if self.timescaledb_packaged:
            settings += [
                "shared_preload_libraries = 'timescaledb'",
                "timescaledb.telemetry_level = off",
            ]
        with open(self.datadir / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write("\n# BeeAPI local server\n" + "\n".join(settings) + "\n")

    def running_port(self) -> int | None:
        """The port of the server running on this data directory, or None."""
        pidfile = self.datadir / "postmaster.pid"
        if not pidfile.exists():
            return None
        status = self._run(
            str(self.bindir / "pg_ctl"),
            "status",
            "-D",
            str(self.datadir),
            capture_output=True,
            check=False,
        )
        if status.returncode != 0:
            return None
        lines = pidfile.read_text().splitlines()
        return int(lines[3]) if len(lines) > 3 else None

    def start(self, port: int) -> None:
        log(f"starting PostgreSQL on 127.0.0.1:{port} ({self.datadir})")
        # A session of its own, so Ctrl-C in the terminal reaches us, not the server:
        # we stop it cleanly ourselves.
        self._run(
            str(self.bindir / "pg_ctl"),
            "start",
            "-w",
            "-t",
            "60",
            "-D",
            str(self.datadir),
            "-l",
            str(self.logfile),
            "-o",
            f"-p {port}",
            check=True,
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )

    def stop(self) -> None:
        if self.running_port() is None:
            return
        log(f"stopping PostgreSQL ({self.datadir})")
        self._run(
            str(self.bindir / "pg_ctl"),
            "stop",
            "-w",
            "-m",
            "fast",
            "-D",
            str(self.datadir),
            check=False,
            stdout=subprocess.DEVNULL,
        )

    def url(self, port: int, database: str) -> str:
        return f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{port}/{database}"


def ensure_database(admin_url: str, name: str, *, timescaledb: bool) -> str | None:
    """Create database ``name`` if missing; load TimescaleDB when the server has it.

    Returns the TimescaleDB version active in the database, or None.
    """
    import psycopg

    with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    if not timescaledb:
        return None
    db_url = admin_url.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(db_url, autocommit=True, connect_timeout=10) as conn:
        available = _one_row(
            conn.execute(
                "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'),"
                " current_setting('shared_preload_libraries') LIKE '%timescaledb%'"
            )
        )
        if all(available):
            conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        row = conn.execute(
            "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'"
        ).fetchone()
    return row[0] if row else None


def wait_until_ready(url: str, timeout: float = 30.0) -> None:
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(url, connect_timeout=2):
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def replica_of(primary: LocalServer, primary_port: int, datadir: Path) -> LocalServer:
    """A streaming replica of the running ``primary``, in ``datadir`` (not started yet).

    ``pg_basebackup -R`` copies the primary (a fast checkpoint first) and writes
    ``standby.signal`` plus ``primary_conninfo``, so the copy starts as a hot standby that
    streams from the primary over 127.0.0.1. It connects as ``beeapi``, a superuser and so
    allowed to replicate; initdb's pg_hba.conf already admits replication connections
    from 127.0.0.1 with a password (``wal_level=replica`` and ``max_wal_senders`` are
    PostgreSQL's defaults). The copy keeps the primary's postgresql.conf; give it its own
    port with ``start()``.
    """
    replica = LocalServer(datadir, primary.bindir, throwaway=primary.throwaway)
    datadir.parent.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(datadir.parent, replica.os_user)
    log(f"pg_basebackup -R from 127.0.0.1:{primary_port} into {datadir}")
    replica._run(
        str(primary.bindir / "pg_basebackup"),
        "-D",
        str(datadir),
        "-R",
        "-X",
        "stream",
        "-c",
        "fast",
        "-h",
        "127.0.0.1",
        "-p",
        str(primary_port),
        "-U",
        USER,
        "-w",
        check=True,
        stdout=subprocess.DEVNULL,
        # libpq reads the password from the environment; -R then writes it into the
        # replica's primary_conninfo (a throwaway server's well-known password).
        env={**os.environ, "PGPASSWORD": PASSWORD},
    )
    return replica


def wait_for_replay(primary_url: str, replica_url: str, timeout: float = 30.0) -> None:
    """Wait until the replica has replayed everything committed on the primary so far."""
    import psycopg

    with psycopg.connect(primary_url, autocommit=True, connect_timeout=10) as conn:
        # A synchronous commit that wrote WAL flushes all WAL before it, so the flushed
        # position covers every earlier commit, also those made asynchronously (throwaway
        # servers commit so). A transaction that only took an XID would commit
        # asynchronously itself; a transactional WAL message does not.
        conn.execute("SET synchronous_commit = on")
        conn.execute("SELECT pg_logical_emit_message(true, 'beeapi-sync', '')")
        (target,) = _one_row(conn.execute("SELECT pg_current_wal_flush_lsn()::text"))
    deadline = time.monotonic() + timeout
    with psycopg.connect(replica_url, autocommit=True, connect_timeout=10) as conn:
        while True:
            (done,) = _one_row(
                conn.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (target,))
            )
            if done:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"replica did not replay up to {target} in {timeout} s")
            time.sleep(0.05)


if __name__ == "__main__":
    # `python3 -m devtools.localpg timescaledb-packaged`: exit 0 when local servers would
    # run TimescaleDB (the package is installed and BEEAPI_TIMESCALEDB is not off).
    if sys.argv[1:] != ["timescaledb-packaged"]:
        sys.exit("usage: python3 -m devtools.localpg timescaledb-packaged")
    bindir = find_bindir()
    packaged = bindir is not None and LocalServer(Path("/nonexistent"), bindir).timescaledb_packaged
    sys.exit(0 if packaged else 1)
