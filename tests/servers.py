"""Real servers for tests that need processes of their own: a throwaway PostgreSQL
server that a test may stop and start, and daphne serving BeeAPI in a subprocess."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.db import connections

from devtools import localpg
from devtools.devserver import DaphneProcess

ROOT = Path(__file__).resolve().parent.parent


def database_url(alias: str) -> str:
    """URL of the database a test alias points at (the test database during tests)."""
    s = connections[alias].settings_dict
    return f"postgresql://{s['USER']}:{s['PASSWORD']}@{s['HOST']}:{s['PORT']}/{s['NAME']}"


class ThrowawayPostgres:
    """A PostgreSQL server of a test's own that the test can stop and start.

    Its data lives under the project's git-ignored .localdb/ rather than pytest's
    tmp_path: as root the server runs as the ``postgres`` account, which cannot enter
    pytest's private (0700) temporary directories.
    """

    def __init__(self, database: str = "beeapi_telemetry") -> None:
        (ROOT / ".localdb").mkdir(exist_ok=True)
        self.scratch = Path(tempfile.mkdtemp(prefix="testpg-", dir=ROOT / ".localdb"))
        self.scratch.chmod(0o755)
        datadir = self.scratch / "data"
        self.server = localpg.LocalServer(datadir, localpg.ensure_bindir(), throwaway=True)
        self.database = database
        self.port = localpg.free_port()

    @property
    def url(self) -> str:
        return self.server.url(self.port, self.database)

    def start(self) -> None:
        if not self.server.initialized():
            self.server.init()
        self.server.start(self.port)
        admin_url = self.server.url(self.port, "postgres")
        localpg.wait_until_ready(admin_url)
        localpg.ensure_database(
            admin_url, self.database, timescaledb=self.server.timescaledb_packaged
        )

    def stop(self) -> None:
        self.server.stop()


@contextmanager
def throwaway_postgres(database: str = "beeapi_telemetry") -> Iterator[ThrowawayPostgres]:
    """A started ThrowawayPostgres, stopped and deleted afterwards."""
    pg = ThrowawayPostgres(database)
    try:
        pg.start()
        yield pg
    finally:
        pg.stop()
        shutil.rmtree(pg.scratch, ignore_errors=True)


class ThrowawayReplica:
    """A streaming replica of a running ThrowawayPostgres (``pg_basebackup -R``), on
    127.0.0.1 and a port of its own, with its data beside the primary's."""

    def __init__(self, primary: ThrowawayPostgres) -> None:
        self.primary = primary
        self.server = localpg.replica_of(
            primary.server, primary.port, primary.scratch / "replica-data"
        )
        self.port = localpg.free_port()

    @property
    def url(self) -> str:
        return self.server.url(self.port, self.primary.database)

    def start(self) -> None:
        self.server.start(self.port)
        localpg.wait_until_ready(self.url)

    def stop(self) -> None:
        self.server.stop()

    def execute(self, sql: str, params: tuple = ()) -> list[tuple]:
        import psycopg

        with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as conn:
            cursor = conn.execute(sql, params)
            return cursor.fetchall() if cursor.description else []

    def pause_replay(self) -> None:
        """Stop applying WAL: the replica keeps receiving it but its data stays as is."""
        self.execute("SELECT pg_wal_replay_pause()")

    def resume_replay(self) -> None:
        self.execute("SELECT pg_wal_replay_resume()")

    def catch_up(self, timeout: float = 30.0) -> None:
        """Wait until everything written on the primary so far is replayed here."""
        localpg.wait_for_replay(self.primary.url, self.url, timeout)


@contextmanager
def throwaway_replica(primary: ThrowawayPostgres) -> Iterator[ThrowawayReplica]:
    """A started streaming replica of ``primary``, stopped afterwards (its data goes with
    the primary's scratch directory)."""
    replica = ThrowawayReplica(primary)
    try:
        replica.start()
        yield replica
    finally:
        replica.stop()


class Daphne(DaphneProcess):
    """BeeAPI under daphne with the test settings: the same secret key (JWTs made by the
    test verify) and the same password hasher as the users the test created."""

    def __init__(self, env: dict[str, str], logfile: Path) -> None:
        super().__init__(env, logfile, settings_module="beeapi.settings_test")


@contextmanager
def daphne(env: dict[str, str], logfile: Path) -> Iterator[Daphne]:
    server = Daphne(env, logfile)
    server.start()
    try:
        yield server
    finally:
        server.stop()
