"""Database backend of the primaries: Django's PostgreSQL backend with a cheaper pool
health check.

Django gives its psycopg pool ``ConnectionPool.check_connection`` (CONN_HEALTH_CHECKS):
an empty query, one round trip, every time a request takes a connection, and ingestion
takes two per request (the entity and the telemetry database). ``quick_check`` asks the
socket instead: a server that closed the connection (restart, pg_terminate_backend,
idle timeout) has left its goodbye and EOF there to read, while an idle connection that
is fine has nothing; only a readable socket pays for the full check, which then fails
and makes the pool replace the connection.
"""

from __future__ import annotations

import select
from typing import Any

import psycopg
from django.db.backends.postgresql import base
from psycopg_pool import ConnectionPool


def quick_check(conn: psycopg.Connection) -> None:
    """Raise if ``conn`` is unusable; a round trip only when its socket has news."""
    if conn.closed or conn.broken:
        raise psycopg.OperationalError("the connection is closed")
    # poll(), not select(): a process holding 2,000 sockets has descriptors past
    # select()'s limit of 1,024.
    poller = select.poll()
    poller.register(conn.fileno(), select.POLLIN)
    if poller.poll(0):
        ConnectionPool.check_connection(conn)


class DatabaseWrapper(base.DatabaseWrapper):
    @property
    def pool(self) -> Any:
        pool = super().pool
        # Django passes check=ConnectionPool.check_connection and no way to choose
        # another (a "check" in OPTIONS["pool"] would be a duplicate argument).
        if pool is not None and pool._check is ConnectionPool.check_connection:
            pool._check = quick_check
        return pool
