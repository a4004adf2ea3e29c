"""Route the telemetry app to the TimescaleDB alias and everything else to PostgreSQL;
reads, where it is safe, to a read replica of the right one (beeapi/replicas.py)."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from beeapi import replicas
from core.databases import DEFAULT_DB, TELEMETRY_DB

TELEMETRY_APP = "telemetry"


class TelemetryRouter:
    """Readings live in TimescaleDB; users, apiaries, hives, queens and events do not.

    Nothing crosses the two: relations between them are refused and each app migrates on
    its own database only. Readings link to hives by ``device_id``, a plain value.

    Single-database mode (``settings.TELEMETRY_SAME_DATABASE``): both aliases name one
    database and so share one ``django_migrations`` table. Migrating each app on its own
    alias only would then lose tables: ``migrate --database default`` records the
    telemetry migrations as applied while skipping them, and ``migrate --database
    telemetry`` never creates ``readings`` (and the other way round for the entity
    tables). So in this mode every app migrates on either alias: whichever ``migrate``
    runs first creates everything, the second finds it all applied. Reads and writes
    still go through the two aliases, so the code is the same in both modes.

    Read replicas (``settings.DATABASE_REPLICAS``: ``default_replica_N`` of ``default``,
    ``telemetry_replica_N`` of ``telemetry``): writes always go to the primary above; a
    read goes to a healthy replica of it only where ``beeapi.replicas.read_alias`` says
    so (a read-only request of a client that has not just written, outside any
    transaction on the primary), else to the primary. A write marks the request so its
    later reads use the primary too. Replicas are read-only copies: nothing migrates on
    them, and an object read from one relates to (and saves to) its primary's objects.
    """

    def _db_for(self, model: Any) -> str:
        """The primary alias of a model class or instance."""
        return TELEMETRY_DB if model._meta.app_label == TELEMETRY_APP else DEFAULT_DB

    def db_for_read(self, model: type, **hints: Any) -> str:
        return replicas.read_alias(self._db_for(model))

    def db_for_write(self, model: type, **hints: Any) -> str:
        replicas.wrote()
        return self._db_for(model)

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        # obj._meta, not type(obj): the admin relates objects to request.user, a lazy
        # wrapper whose type has no _meta (the attribute is proxied to the real user).
        return self._db_for(obj1) == self._db_for(obj2)

    def allow_migrate(
        self, db: str, app_label: str, model_name: str | None = None, **hints: Any
    ) -> bool:
        if db not in (DEFAULT_DB, TELEMETRY_DB):
            return False  # replicas (and any other alias) never migrate
        if getattr(settings, "TELEMETRY_SAME_DATABASE", False):
            return True
        if app_label == TELEMETRY_APP:
            return db == TELEMETRY_DB
        return db == DEFAULT_DB
