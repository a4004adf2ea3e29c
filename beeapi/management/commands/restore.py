"""``manage.py restore --from DIR``: a backup made by ``manage.py backup`` into EMPTY
databases, checked against its manifest (checksums before, row counts after).

Nothing is written unless every check passes first: all files match their SHA-256, every
target database is reachable and has no tables, TimescaleDB dumps go only to a server
that has the extension in the very version dumped, and pg_restore is new enough. There is
deliberately no --force: restoring over data is never what a restore should do.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from psycopg import sql

from beeapi import backups
from core.databases import TELEMETRY_DB


class Command(BaseCommand):
    help = (
        "Restore a backup made by `backup` into empty databases (POSTGRES_URL / "
        "TIMESCALE_URL), verifying checksums first and row counts after."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--from", dest="source", required=True, metavar="DIR")

    def handle(self, *args: Any, **options: Any) -> None:
        source = Path(options["source"]).expanduser().resolve()
        manifest = self._manifest(source)
        databases: dict[str, dict[str, Any]] = manifest["databases"]
        for alias, entry in databases.items():
            self._verify_file(source, alias, entry)
        plans = [self._preflight(alias, entry) for alias, entry in databases.items()]
        for plan in plans:
            self._restore(source, plan)
        problems = []
        for plan in plans:
            problems += self._check_counts(plan)
        if problems:
            raise CommandError(
                "Restored, but the row counts differ from the manifest:\n  " + "\n  ".join(problems)
            )
        self.stdout.write(self.style.SUCCESS(f"Restore complete from {source}"))

    # --- Checks before anything is written -------------------------------------------

    def _manifest(self, source: Path) -> dict[str, Any]:
        path = source / backups.MANIFEST
        if not path.is_file():
            raise CommandError(
                f"{path} not found: not a backup directory, or an incomplete backup "
                "(the manifest is written last)."
            )
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise CommandError(f"{path} is not valid JSON: {exc}") from exc
        if manifest.get("format") != backups.MANIFEST_FORMAT:
            raise CommandError(f"{path}: unknown manifest format {manifest.get('format')!r}.")
        databases = manifest.get("databases") or {}
        unknown = sorted(set(databases) - set(backups.ALIASES))
        if unknown or not databases:
            raise CommandError(f"{path}: unexpected database aliases {unknown or 'none'}.")
        self.stdout.write(
            f"Backup of {manifest.get('created_at')} (BeeAPI {manifest.get('beeapi_version')}, "
            f"commit {manifest.get('git_commit') or 'unknown'})"
        )
        return manifest

    def _verify_file(self, source: Path, alias: str, entry: dict[str, Any]) -> None:
        name = entry["file"]
        path = source / name
        if Path(name).name != name or not path.is_file():
            raise CommandError(f"[{alias}] dump file {path} is missing.")
        size = path.stat().st_size
        if size != entry["size_bytes"]:
            raise CommandError(
                f"[{alias}] {name} is {size} bytes, the manifest says {entry['size_bytes']}: "
                "the file is damaged or was changed; nothing was restored."
            )
        digest = backups.sha256_of(path)
        if digest != entry["sha256"]:
            raise CommandError(
                f"[{alias}] {name}: sha256 mismatch (manifest {entry['sha256']}, file {digest}): "
                "the file is damaged or was changed; nothing was restored."
            )
        self.stdout.write(f"[{alias}] {name}: {size} bytes, sha256 verified")

    def _preflight(self, alias: str, entry: dict[str, Any]) -> dict[str, Any]:
        target = backups.Target.for_alias(alias)
        dumped_ts = entry.get("timescaledb")
        with target.connect(autocommit=True) as conn:
            info = backups.server_info(conn)
            relations = backups.user_relations(conn)
            if relations:
                shown = ", ".join(relations[:5]) + (" ..." if len(relations) > 5 else "")
                raise CommandError(
                    f"[{alias}] {target.where()} is not empty ({len(relations)} tables or views: "
                    f"{shown}). Restore only goes into an empty database: create a new one "
                    "(createdb) and point the URL at it. Nothing was restored."
                )
            if dumped_ts:
                self._check_timescaledb(alias, target, conn, info, dumped_ts)
            elif info.timescaledb and alias == TELEMETRY_DB:
                raise CommandError(
                    f"[{alias}] the backup was made without TimescaleDB (plain PostgreSQL) but "
                    f"{target.where()} has the timescaledb extension {info.timescaledb}: BeeAPI "
                    "would then expect a hypertable. Restore into a database without the "
                    "extension (DROP EXTENSION timescaledb in the empty database), or restore "
                    "as it is and migrate the data yourself. Nothing was restored."
                )
        if info.major < entry["server_version_num"] // 10000:
            self.stdout.write(
                self.style.WARNING(
                    f"[{alias}] dumped from PostgreSQL {entry['server_version']} into older "
                    f"PostgreSQL {info.version}: this may fail."
                )
            )
        pg_restore, _ = backups.find_tool(
            "pg_restore", info.major, minimum=entry.get("pg_dump_major")
        )
        mode = f"TimescaleDB {dumped_ts}" if dumped_ts else "plain PostgreSQL"
        self.stdout.write(f"[{alias}] {target.where()}: empty, PostgreSQL {info.version}, {mode}")
        return {"alias": alias, "entry": entry, "target": target, "pg_restore": pg_restore}

    def _check_timescaledb(
        self, alias: str, target: backups.Target, conn: Any, info: Any, version: str
    ) -> None:
        if info.timescaledb:
            if info.timescaledb != version:
                raise CommandError(
                    f"[{alias}] the backup holds a TimescaleDB {version} database but "
                    f"{target.where()} has TimescaleDB {info.timescaledb}: TimescaleDB restores "
                    f"only into the same version. Nothing was restored."
                )
            return
        packaged, preloaded = backups.timescaledb_loadable(conn)
        if not (packaged and preloaded):
            why = (
                "the extension is not installed on the server"
                if not packaged
                else "the server does not preload it (shared_preload_libraries)"
            )
            raise CommandError(
                f"[{alias}] the backup is a TimescaleDB {version} database but {target.where()} "
                f"cannot run TimescaleDB: {why}. Restore it into a PostgreSQL server with "
                f"TimescaleDB {version} installed and preloaded. Nothing was restored."
            )
        offered = [
            row[0]
            for row in conn.execute(
                "SELECT version FROM pg_available_extension_versions WHERE name = 'timescaledb'"
            ).fetchall()
        ]
        if version not in offered:
            raise CommandError(
                f"[{alias}] the backup is a TimescaleDB {version} database but the server at "
                f"{target.where()} offers TimescaleDB {', '.join(sorted(offered))}: TimescaleDB "
                f"restores only into the same version. Nothing was restored."
            )

    # --- Restoring --------------------------------------------------------------------

    def _restore(self, source: Path, plan: dict[str, Any]) -> None:
        alias, entry, target = plan["alias"], plan["entry"], plan["target"]
        timescaledb = entry.get("timescaledb")
        args = [
            str(plan["pg_restore"]),
            "--no-password",
            "--exit-on-error",
            "--single-transaction",
            # Objects belong to the user restoring them (the URL's user), as after migrate.
            "--no-owner",
            "--no-privileges",
            f"--dbname={target.dbname}",
            str(source / entry["file"]),
        ]
        self.stdout.write(f"[{alias}] {plan['pg_restore']} <- {entry['file']}")
        with target.connect(autocommit=True) as conn:
            if timescaledb:
                conn.execute(
                    sql.SQL("CREATE EXTENSION IF NOT EXISTS timescaledb VERSION {}").format(
                        sql.Literal(timescaledb)
                    )
                )
                conn.execute("SELECT timescaledb_pre_restore()")
            try:
                backups.run_tool(args, target.env(), f"[{alias}] pg_restore")
            finally:
                if timescaledb:
                    conn.execute("SELECT timescaledb_post_restore()")
            conn.execute("ANALYZE")
        self.stdout.write(f"[{alias}] restored")

    def _check_counts(self, plan: dict[str, Any]) -> list[str]:
        alias, entry, target = plan["alias"], plan["entry"], plan["target"]
        expected: dict[str, int] = entry.get("row_counts") or {}
        with target.connect(autocommit=True) as conn:
            present = set(backups.existing_tables(conn, tuple(expected)))
            actual = backups.row_counts(conn, sorted(present))
        problems = []
        for table, count in expected.items():
            got = actual.get(table)
            if got != count:
                problems.append(
                    f"[{alias}] {table}: manifest {count} rows, restored "
                    f"{'no such table' if got is None else got}"
                )
        if not problems:
            self.stdout.write(
                f"[{alias}] row counts match the manifest: "
                + ", ".join(f"{t} {n}" for t, n in expected.items())
            )
        return problems
