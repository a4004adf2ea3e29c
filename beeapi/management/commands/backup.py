"""``manage.py backup --to DIR``: a pg_dump of each database plus manifest.json.

See beeapi/backups.py for what a backup holds and why each dump is consistent.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from beeapi import backups


class Command(BaseCommand):
    help = (
        "Back up both databases separately: one pg_dump custom-format archive per database "
        "alias (a consistent snapshot each) and manifest.json with versions, checksums and "
        "row counts."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--to", required=True, metavar="DIR", help="backup directory")
        parser.add_argument(
            "--force",
            action="store_true",
            help="write into DIR even if it is not empty (files of the same name are replaced)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        out_dir = Path(options["to"]).expanduser().resolve()
        if out_dir.exists() and not out_dir.is_dir():
            raise CommandError(f"{out_dir} exists and is not a directory.")
        if out_dir.is_dir() and any(out_dir.iterdir()) and not options["force"]:
            raise CommandError(
                f"{out_dir} is not empty: choose a new directory, or pass --force to write into it."
            )
        out_dir.mkdir(parents=True, exist_ok=True)
        # The manifest is written last: a directory without one is not a complete backup.
        (out_dir / backups.MANIFEST).unlink(missing_ok=True)

        manifest: dict[str, Any] = {
            "format": backups.MANIFEST_FORMAT,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "beeapi_version": settings.SPECTACULAR_SETTINGS.get("VERSION"),
            "git_commit": backups.git_commit(Path(settings.BASE_DIR)),
            "databases": {},
        }
        for alias in backups.ALIASES:
            manifest["databases"][alias] = self._dump(alias, out_dir)

        tmp = out_dir / (backups.MANIFEST + ".partial")
        tmp.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        tmp.replace(out_dir / backups.MANIFEST)
        self.stdout.write(self.style.SUCCESS(f"Backup complete: {out_dir}"))

    def _dump(self, alias: str, out_dir: Path) -> dict[str, Any]:
        target = backups.Target.for_alias(alias)
        self.stdout.write(f"[{alias}] {target.where()}")
        filename = f"{alias}.dump"
        partial = out_dir / (filename + ".partial")
        with target.connect() as conn:
            # One snapshot for the row counts and for pg_dump: the counts describe exactly
            # what the archive holds, however busy the database is meanwhile.
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            conn.read_only = True
            snapshot = backups.one_row(conn.execute("SELECT pg_export_snapshot()"))[0]
            info = backups.server_info(conn)
            wanted = backups.main_tables()[alias]
            tables = backups.existing_tables(conn, wanted)
            missing = sorted(set(wanted) - set(tables))
            if missing:
                self.stdout.write(
                    self.style.WARNING(f"[{alias}] not migrated? no table {', '.join(missing)}")
                )
            counts = backups.row_counts(conn, tables)
            pg_dump, dump_major = backups.find_tool("pg_dump", info.major)
            mode = f"TimescaleDB {info.timescaledb}" if info.timescaledb else "no TimescaleDB"
            self.stdout.write(
                f"[{alias}] PostgreSQL {info.version}, {mode}; "
                + ", ".join(f"{t} {n}" for t, n in counts.items())
            )
            self.stdout.write(f"[{alias}] {pg_dump} -> {filename}")
            try:
                backups.run_tool(
                    [
                        str(pg_dump),
                        "--format=custom",
                        "--no-password",
                        f"--snapshot={snapshot}",
                        f"--file={partial}",
                    ],
                    target.env(),
                    f"[{alias}] pg_dump",
                )
            except BaseException:
                partial.unlink(missing_ok=True)
                raise
            conn.rollback()
        final = out_dir / filename
        partial.replace(final)
        size = final.stat().st_size
        digest = backups.sha256_of(final)
        self.stdout.write(f"[{alias}] wrote {filename}: {size} bytes, sha256 {digest}")
        return {
            "database": target.dbname,
            "server_version": info.version,
            "server_version_num": info.version_num,
            "timescaledb": info.timescaledb,
            "pg_dump_major": dump_major,
            "file": filename,
            "size_bytes": size,
            "sha256": digest,
            "row_counts": counts,
        }
