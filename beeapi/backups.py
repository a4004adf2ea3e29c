"""Backups of both databases, each on its own: the engine of ``manage.py backup`` and
``manage.py restore``.

A backup is a directory with one ``pg_dump -Fc`` archive per database alias
(``default.dump``, ``telemetry.dump``) and ``manifest.json`` describing them: server and
TimescaleDB versions, file sizes and SHA-256 digests, and row counts of the main tables.
Each archive is a consistent snapshot of its database: the row counts are taken in the
very snapshot pg_dump dumps (``pg_export_snapshot`` + ``pg_dump --snapshot``), so a
restore can check them exactly. The two databases are separate servers, so the two
snapshots are not taken at the same instant (nothing links them but device ids).

The PostgreSQL client programs come from the binaries matching the server's major
version (PG_BINDIR first, then the usual install locations, then PATH); the password
reaches them through PGPASSWORD, never the command line.
"""

from __future__ import annotations

import glob
import hashlib
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from django.apps import apps
from django.core.management.base import CommandError
from django.db import connections, router
from psycopg import sql

MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1
ALIASES = ("default", "telemetry")
# The apps whose tables hold the data a backup must bring back.
DATA_APPS = ("accounts", "apiary", "alerts", "telemetry")


def main_tables() -> dict[str, tuple[str, ...]]:
    """The tables per alias whose row counts the manifest records and restore checks:
    every table of the data apps' models, on the alias the router writes them to (so a
    new model is counted without anyone listing it). Views such as readings_hourly are
    not models Django manages and are left out: they follow from the tables."""
    tables: dict[str, list[str]] = {alias: [] for alias in ALIASES}
    for app in DATA_APPS:
        for model in apps.get_app_config(app).get_models(include_auto_created=True):
            if model._meta.managed and not model._meta.proxy:
                tables[router.db_for_write(model)].append(model._meta.db_table)
    return {alias: tuple(sorted(set(names))) for alias, names in tables.items()}


# Schemas that hold no data of ours (an empty database still has them).
SYSTEM_SCHEMAS_SQL = (
    "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%%'"
    " AND n.nspname NOT LIKE 'pg_temp%%'"
)
# Relations that are not part of an extension (TimescaleDB's catalog tables are).
USER_RELATIONS_SQL = f"""
SELECT n.nspname || '.' || c.relname
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND {SYSTEM_SCHEMAS_SQL}
  AND NOT EXISTS (
    SELECT 1 FROM pg_depend d
    WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
  )
ORDER BY 1
"""

# Connection OPTIONS (from the database URL's query) that libpq reads from the environment.
_LIBPQ_ENV = {
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "options": "PGOPTIONS",
    "target_session_attrs": "PGTARGETSESSIONATTRS",
}


@dataclass(frozen=True)
class Target:
    """Where one alias's database is, read from Django's settings for the alias."""

    alias: str
    host: str
    port: str
    user: str
    password: str
    dbname: str
    options: dict[str, Any]

    @classmethod
    def for_alias(cls, alias: str) -> Target:
        s = connections[alias].settings_dict
        options = {k: v for k, v in (s.get("OPTIONS") or {}).items() if k in _LIBPQ_ENV}
        return cls(
            alias=alias,
            host=str(s.get("HOST") or ""),
            port=str(s.get("PORT") or ""),
            user=str(s.get("USER") or ""),
            password=str(s.get("PASSWORD") or ""),
            dbname=str(s["NAME"]),
            options=options,
        )

    def where(self) -> str:
        return f"{self.user}@{self.host or 'localhost'}:{self.port or 5432}/{self.dbname}"

    def connect(self, **kwargs: Any) -> psycopg.Connection:
        params: dict[str, Any] = {"dbname": self.dbname, "connect_timeout": 10}
        for key in ("host", "port", "user", "password"):
            if getattr(self, key):
                params[key] = getattr(self, key)
        params.update(self.options)
        try:
            return psycopg.connect(**params, **kwargs)
        except psycopg.Error as exc:
            raise CommandError(f"[{self.alias}] cannot connect to {self.where()}: {exc}") from exc

    def env(self) -> dict[str, str]:
        """The environment for a client program: the connection, password included."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update({"PGDATABASE": self.dbname, "PGCONNECT_TIMEOUT": "10"})
        for key, var in (("host", "PGHOST"), ("port", "PGPORT"), ("user", "PGUSER")):
            if getattr(self, key):
                env[var] = getattr(self, key)
        if self.password:
            env["PGPASSWORD"] = self.password
        for key, value in self.options.items():
            env[_LIBPQ_ENV[key]] = str(value)
        return env


@dataclass(frozen=True)
class ServerInfo:
    version: str  # e.g. "15.13"
    version_num: int  # e.g. 150013
    timescaledb: str | None  # the extension's version in this database

    @property
    def major(self) -> int:
        return self.version_num // 10000


_Row = TypeVar("_Row")


def one_row(cursor: psycopg.Cursor[_Row]) -> _Row:
    """The row of a query that always answers exactly one: a SELECT of expressions, an
    aggregate without GROUP BY."""
    row = cursor.fetchone()
    assert row is not None
    return row


def server_info(conn: psycopg.Connection) -> ServerInfo:
    version, num = one_row(
        conn.execute(
            "SELECT current_setting('server_version'), current_setting('server_version_num')::int"
        )
    )
    row = conn.execute(
        "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'"
    ).fetchone()
    return ServerInfo(
        version=version.split()[0], version_num=num, timescaledb=row[0] if row else None
    )


def timescaledb_loadable(conn: psycopg.Connection) -> tuple[bool, bool]:
    """(packaged, preloaded): whether the server could run the extension here."""
    packaged, preloaded = one_row(
        conn.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'),"
            " current_setting('shared_preload_libraries') LIKE '%timescaledb%'"
        )
    )
    return bool(packaged), bool(preloaded)


def user_relations(conn: psycopg.Connection) -> list[str]:
    return [row[0] for row in conn.execute(USER_RELATIONS_SQL).fetchall()]


def existing_tables(conn: psycopg.Connection, tables: tuple[str, ...]) -> list[str]:
    rows = conn.execute(
        "SELECT unnest(%s::text[]) AS t INTERSECT SELECT tablename FROM pg_tables"
        " WHERE schemaname = current_schema()",
        [list(tables)],
    ).fetchall()
    present = {row[0] for row in rows}
    return [t for t in tables if t in present]


def row_counts(conn: psycopg.Connection, tables: list[str]) -> dict[str, int]:
    counts = {}
    for table in tables:
        counts[table] = one_row(
            conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))
        )[0]
    return counts


# --- Client programs --------------------------------------------------------------------


def _candidate_bindirs(major: int) -> list[Path]:
    """Directories that may hold PostgreSQL client programs, best first."""
    dirs: list[Path] = []
    if os.environ.get("PG_BINDIR"):
        dirs.append(Path(os.environ["PG_BINDIR"]))
    # The binaries of the server's own major version (Debian/Ubuntu, RHEL, Homebrew).
    dirs += [
        Path(f"/usr/lib/postgresql/{major}/bin"),
        Path(f"/usr/pgsql-{major}/bin"),
        Path(f"/opt/homebrew/opt/postgresql@{major}/bin"),
        Path(f"/usr/local/opt/postgresql@{major}/bin"),
    ]
    # Then any newer ones (newer pg_dump/pg_restore handle older servers), newest first.
    others = glob.glob("/usr/lib/postgresql/*/bin") + glob.glob("/usr/pgsql-*/bin")
    others += glob.glob("/opt/homebrew/opt/postgresql@*/bin")

    def version_of(path: str) -> int:
        match = re.search(r"(\d+)", path.replace("/bin", ""))
        return int(match.group(1)) if match else 0

    dirs += [Path(p) for p in sorted(others, key=version_of, reverse=True)]
    return dirs


def tool_major(path: Path) -> int | None:
    """The major version a client program reports (``pg_dump (PostgreSQL) 15.13``)."""
    try:
        out = subprocess.run(
            [str(path), "--version"], capture_output=True, text=True, timeout=30, check=False
        ).stdout
    except OSError:
        return None
    match = re.search(r"\)\s+(\d+)", out)
    return int(match.group(1)) if match else None


def find_tool(name: str, server_major: int, *, minimum: int | None = None) -> tuple[Path, int]:
    """``pg_dump``/``pg_restore`` for a server of ``server_major``: its own version if
    installed, else the newest one not older than the server (and ``minimum``)."""
    need = max(server_major, minimum or 0)
    seen: list[str] = []
    candidates = [d / name for d in _candidate_bindirs(server_major)]
    on_path = shutil.which(name)
    if on_path:
        candidates.append(Path(on_path))
    for path in candidates:
        if not path.is_file() or not os.access(path, os.X_OK):
            continue
        major = tool_major(path)
        seen.append(f"{path} ({major})")
        if major is not None and major >= need:
            return path, major
    found = "; found: " + ", ".join(seen) if seen else "; none found"
    raise CommandError(
        f"{name} of PostgreSQL {need} or newer is needed for this server (PostgreSQL "
        f"{server_major}){found}. Install the PostgreSQL {server_major} client programs "
        f"(Debian/Ubuntu: postgresql-client-{server_major}) or set PG_BINDIR to their directory."
    )


# --- Files ------------------------------------------------------------------------------


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def git_commit(root: Path) -> str | None:
    if not (root / ".git").exists() or not shutil.which("git"):
        return None
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() or None


def run_tool(args: list[str], env: dict[str, str], what: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip()
        raise CommandError(f"{what} failed (exit {proc.returncode}):\n{detail}")
    return proc
