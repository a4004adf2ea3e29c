"""Database backend of the read-replica aliases: PostgreSQL, plus a note to
``beeapi.replicas`` whenever a replica's connection or query fails, so reads skip that
replica until its next check (and a read-only request that hit it is answered again from
the primary, see ``beeapi.middleware.ReadReplicaMiddleware``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import InterfaceError, OperationalError

from beeapi.db_backend import base


class DatabaseWrapper(base.DatabaseWrapper):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.execute_wrappers.append(self._note_failure)

    def ensure_connection(self) -> None:
        try:
            super().ensure_connection()
        except (OperationalError, InterfaceError) as exc:
            self._failed(exc)
            raise

    def _note_failure(
        self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any
    ) -> Any:
        try:
            return execute(sql, params, many, context)
        except (OperationalError, InterfaceError) as exc:
            # Unreachable, or a query cancelled by a conflict with recovery.
            self._failed(exc)
            raise

    def _failed(self, exc: BaseException) -> None:
        from beeapi import replicas

        replicas.replica_failed(self.alias, exc)
