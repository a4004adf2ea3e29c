"""Pooled connections are checked before use without a round trip (beeapi/db_backend):
a healthy one is handed out as it is, one the server has closed is refused (the pool then
replaces it; tests/foundation/test_outage.py restarts a server under a running one)."""

from __future__ import annotations

import time

import psycopg
import pytest
from django.db import connections

from beeapi.db_backend.base import quick_check
from tests.servers import database_url


@pytest.mark.django_db(databases=["default", "telemetry"])
@pytest.mark.parametrize("alias", ["default", "telemetry"])
def test_the_pools_use_the_quick_check(alias: str) -> None:
    assert connections[alias].pool._check is quick_check


@pytest.mark.django_db(databases=["default"], transaction=True)
def test_quick_check_asks_the_server_only_when_the_socket_has_news() -> None:
    with psycopg.connect(database_url("default"), autocommit=True) as conn:
        pid = conn.info.backend_pid
        sent: list[str] = []
        real_execute = conn.execute

        def counting_execute(query: str, *args: object, **kwargs: object) -> object:
            sent.append(query)
            return real_execute(query, *args, **kwargs)

        conn.execute = counting_execute  # type: ignore[method-assign]
        quick_check(conn)
        assert sent == []  # healthy and idle: no round trip

        with psycopg.connect(database_url("default"), autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", [pid])
        time.sleep(0.2)  # the server's goodbye reaches the socket
        with pytest.raises(psycopg.OperationalError):
            quick_check(conn)
        assert sent == [""]  # the full check ran, and failed


@pytest.mark.django_db(databases=["default"], transaction=True)
def test_quick_check_works_past_descriptor_1024() -> None:
    # A server process with 2,000 sockets open: its database connections get descriptors
    # that select() cannot watch.
    import os
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1200:
        pytest.skip(f"only {soft} file descriptors allowed")
    spare = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        with psycopg.connect(database_url("default"), autocommit=True) as conn:
            assert conn.fileno() > 1024
            quick_check(conn)  # no ValueError
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        for fd in spare:
            os.close(fd)
