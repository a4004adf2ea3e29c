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
