from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import connections

from beeapi.health import database_health, mqtt_health, pool_settings, replica_health
from core.databases import TELEMETRY_DB

TABLE_SIZES_SQL = """
SELECT tablename, pg_size_pretty(pg_total_relation_size(quote_ident(schemaname) || '.' || quote_ident(tablename)))
FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename
"""


class Command(BaseCommand):
    help = (
        "Show both databases: reachability, tables and sizes, TimescaleDB state, pool "
        "settings; each read replica with its lag; and the MQTT broker."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        pool = pool_settings()
        self.stdout.write(
            f"Connection pools: min_size={pool['min_size']} max_size={pool['max_size']} "
            f"timeout={pool['timeout_s']}s (per database)"
        )
        for alias in ("default", TELEMETRY_DB):
            health = database_health(alias)
            self.stdout.write(self.style.MIGRATE_HEADING(f"\n[{alias}] {self._where(alias)}"))
            if not health["reachable"]:
                self.stdout.write(self.style.ERROR(f"  unreachable ({health['error']})"))
                continue
            self.stdout.write(
                f"  PostgreSQL {health['server_version']}, round trip {health['round_trip_ms']} ms"
            )
            with connections[alias].cursor() as cursor:
                cursor.execute(TABLE_SIZES_SQL)
                for table, size in cursor.fetchall():
                    self.stdout.write(f"  {table:<40} {size:>10}")
                if alias == TELEMETRY_DB:
                    ts = health["timescaledb"]
                    self.stdout.write(f"  mode: {ts['description']}")
                    if ts["active"]:
                        cursor.execute(
                            "SELECT pg_size_pretty(hypertable_size(to_regclass('readings'))) "
                            "WHERE EXISTS (SELECT 1 FROM timescaledb_information.hypertables "
                            "WHERE hypertable_name = 'readings')"
                        )
                        row = cursor.fetchone()
                        self.stdout.write(
                            f"  hypertable_size('readings'): {row[0] if row else 'not a hypertable yet'}"
                        )
        self._replicas()
        self._mqtt()

    def _mqtt(self) -> None:
        mqtt = mqtt_health()
        if not mqtt.get("configured", True):
            self.stdout.write("\nMQTT broker: off (MQTT_URL is empty)")
        elif mqtt["reachable"]:
            self.stdout.write(
                self.style.SUCCESS(f"\nMQTT broker {mqtt['host']}:{mqtt['port']}: reachable")
            )
        else:
            self.stdout.write(
                self.style.ERROR(f"\nMQTT broker {mqtt['host']}:{mqtt['port']}: unreachable")
            )

    def _replicas(self) -> None:
        replicas = replica_health()
        if not replicas:
            return
        self.stdout.write(
            self.style.MIGRATE_HEADING(
                f"\nRead replicas (max lag {settings.REPLICA_MAX_LAG_SECONDS:g} s)"
            )
        )
        for alias, replica in replicas.items():
            self.stdout.write(
                self.style.MIGRATE_HEADING(
                    f"[{alias}] {self._where(alias)}, replica of {replica['primary']}"
                )
            )
            state = replica["state"]
            if state == "down":
                self.stdout.write(self.style.ERROR(f"  down: unreachable ({replica['error']})"))
            elif state == "not_a_replica":
                self.stdout.write(
                    self.style.ERROR("  not a replica (not in recovery): reads use the primary")
                )
            else:
                paused = ", WAL replay paused" if replica["replay_paused"] else ""
                lag = replica["lag_seconds"]
                lag_text = "unknown" if lag is None else f"{lag:g} s"
                line = f"  {state}: lag {lag_text}{paused}"
                if state == "ok":
                    self.stdout.write(self.style.SUCCESS(line + ", serving reads"))
                else:
                    self.stdout.write(self.style.WARNING(line + ": reads use the primary"))

    def _where(self, alias: str) -> str:
        s = connections[alias].settings_dict
        return f"{s['USER']}@{s['HOST']}:{s['PORT']}/{s['NAME']}"
