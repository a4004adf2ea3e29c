"""Real servers for tests that need processes of their own: a throwaway PostgreSQL
server that a test may stop and start, and daphne serving BeeAPI in a subprocess."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.db import connections

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import localpg  # noqa: E402


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
def throwaway_postgres() -> Iterator[ThrowawayPostgres]:
    pg = ThrowawayPostgres()
    try:
        pg.start()
        yield pg
    finally:
        pg.stop()
        shutil.rmtree(pg.scratch, ignore_errors=True)


class Daphne:
    """BeeAPI under daphne on 127.0.0.1, as `make run` serves it."""

    def __init__(self, env: dict[str, str], logfile: Path) -> None:
        self.port = localpg.free_port()
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "beeapi.settings",
            "DEBUG": "true",
            "DB_POOL_TIMEOUT": "2",
            **env,
        }
        self.logfile = logfile
        self.proc: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def manage(self, *args: str) -> None:
        subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            check=True,
            capture_output=True,
        )

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "daphne",
                "-b",
                "127.0.0.1",
                "-p",
                str(self.port),
                "beeapi.asgi:application",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=self.logfile.open("w"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"daphne exited: {self.logfile.read_text()[-2000:]}")
            try:
                urllib.request.urlopen(self.base_url + "/schema", timeout=2)
                return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.2)
        raise RuntimeError("daphne did not start within 30 s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        request = urllib.request.Request(self.base_url + path, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=15) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()


@contextmanager
def daphne(env: dict[str, str], logfile: Path) -> Iterator[Daphne]:
    server = Daphne(env, logfile)
    server.start()
    try:
        yield server
    finally:
        server.stop()
