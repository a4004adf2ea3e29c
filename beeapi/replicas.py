"""Read replicas: which alias a read may use, replica lag, and read-your-writes pins.

``POSTGRES_REPLICA_URLS`` / ``TIMESCALE_REPLICA_URLS`` add aliases ``default_replica_N``
/ ``telemetry_replica_N`` (``settings.DATABASE_REPLICAS`` maps each primary to its
replicas). ``beeapi.db_router.TelemetryRouter`` asks :func:`read_alias` where a read goes.

**Reads use a replica only where it is known to be safe**: inside an HTTP request that
:class:`beeapi.middleware.ReadReplicaMiddleware` allowed to (a GET, HEAD or OPTIONS from
a client that has not written for ``READ_YOUR_WRITES_SECONDS``), never inside a
transaction on the primary, and never after the request wrote. Everything else, that is
management commands (``alerts_worker``, ``dbstatus``…), WebSocket consumers, the shell,
reads the primary: they interleave writes and reads and have no "client" to pin.

**A replica is used only while it is healthy**: checked at most every
``REPLICA_CHECK_SECONDS`` per process (the result is cached); a replica that cannot be
reached, is not in recovery, or lags more than ``REPLICA_MAX_LAG_SECONDS`` is skipped,
and so is one whose connection or query fails during a request, until the next check.

Lag is how far behind the primary the replica's data may be, in seconds: 0 when the
replica has replayed all the WAL the primary had flushed when the check began; otherwise
the smaller of the age of the newest transaction it has replayed (``clock_timestamp() -
pg_last_xact_replay_timestamp()``) and the time since this process last saw it current.
Both bound the true lag from above: the estimate may be too high (briefly, after a quiet
spell on the primary), never too low. When the primary cannot be asked, a replica that
has replayed everything it received counts as current.
"""

from __future__ import annotations

import contextvars
import logging
import random
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

logger = logging.getLogger("beeapi.replicas")

OK = "ok"
LAGGING = "lagging"
DOWN = "down"
NOT_A_REPLICA = "not_a_replica"

# How far the primary has flushed its WAL (what streaming replicas can have received): a
# replica that has replayed up to here is current. Not the insert position, which runs
# ahead of it (by seconds, for records that wait for the WAL writer) even on an idle server.
# (With synchronous_commit=off on the primary, a commit a fraction of a second old may not
# be flushed yet: that much staleness goes unmeasured.)
PRIMARY_SQL = "SELECT pg_current_wal_flush_lsn()::text"
# pg_last_wal_replay_lsn() >= NULL is NULL: "primary unknown" falls to the receive test.
REPLICA_SQL = """
SELECT pg_is_in_recovery(),
       pg_last_wal_replay_lsn() >= %(primary_lsn)s::pg_lsn,
       pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn(),
       EXTRACT(EPOCH FROM clock_timestamp() - pg_last_xact_replay_timestamp())::float8,
       CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() ELSE false END
"""


# --- Which reads may use a replica ------------------------------------------------------


@dataclass
class ReadState:
    """What the current request allows; one per request (a context variable)."""

    replicas_allowed: bool
    wrote: bool = False
    # Primary alias -> the alias its reads use for the rest of the request (one replica
    # per request, so its queries see one consistent state).
    chosen: dict[str, str] = field(default_factory=dict)
    replica_failed: bool = False


_state: contextvars.ContextVar[ReadState | None] = contextvars.ContextVar(
    "beeapi_read_state", default=None
)


def replicas_of(primary: str) -> list[str]:
    return list(getattr(settings, "DATABASE_REPLICAS", {}).get(primary, ()))


def configured() -> bool:
    return any(getattr(settings, "DATABASE_REPLICAS", {}).values())


def primary_of(alias: str) -> str:
    for primary, aliases in getattr(settings, "DATABASE_REPLICAS", {}).items():
        if alias in aliases:
            return primary
    return alias


@contextmanager
def reading(allowed: bool) -> Iterator[ReadState]:
    """Run a block (a request) whose reads may (``allowed``) use healthy replicas."""
    state = ReadState(replicas_allowed=allowed)
    token = _state.set(state)
    try:
        yield state
    finally:
        _state.reset(token)


def read_alias(primary: str) -> str:
    """The alias a read of ``primary``'s models goes to now."""
    if not replicas_of(primary):
        return primary
    state = _state.get()
    if state is None or not state.replicas_allowed:
        return primary
    from django.db import connections

    # A transaction on the primary reads what it wrote: Django runs a read in an atomic
    # block on whatever alias the router names, so the router must name the primary.
    if connections[primary].in_atomic_block:
        return primary
    chosen = state.chosen.get(primary)
    if chosen is None:
        chosen = monitor.pick(primary) or primary
        state.chosen[primary] = chosen
    return chosen


def wrote() -> None:
    """A write is about to happen: the rest of the request reads the primaries."""
    state = _state.get()
    if state is not None:
        state.wrote = True
        state.replicas_allowed = False


def replica_failed(alias: str, exc: BaseException) -> None:
    """A replica's connection or query failed: skip it until the next check."""
    state = _state.get()
    if state is not None:
        state.replica_failed = True
    monitor.mark_down(alias, exc)


# --- Replica health ---------------------------------------------------------------------


@dataclass(frozen=True)
class ReplicaStatus:
    alias: str
    primary: str
    state: str  # OK, LAGGING, DOWN or NOT_A_REPLICA
    lag_seconds: float | None = None
    replay_paused: bool = False
    error: str | None = None
    round_trip_ms: float | None = None
    checked_at: float = 0.0  # time.monotonic()

    @property
    def usable(self) -> bool:
        return self.state == OK

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "primary": self.primary,
            "state": self.state,
            "reachable": self.state != DOWN,
            "lag_seconds": self.lag_seconds,
            "max_lag_seconds": settings.REPLICA_MAX_LAG_SECONDS,
            "replay_paused": self.replay_paused,
            "round_trip_ms": self.round_trip_ms,
        }
        if self.error:
            body["error"] = self.error
        return body


def _connect_kwargs(alias: str) -> dict[str, Any]:
    """psycopg.connect() arguments for a check connection to ``alias``."""
    from django.db import connections

    s = connections[alias].settings_dict
    timeout = max(2, int(settings.DB_POOL_TIMEOUT))  # libpq's smallest useful timeout
    kwargs: dict[str, Any] = {
        key: value
        for key, value in (s.get("OPTIONS") or {}).items()
        if key not in {"pool", "isolation_level", "server_side_binding", "assume_role"}
    }
    kwargs.update(
        dbname=s["NAME"] or "postgres",
        user=s["USER"],
        password=s["PASSWORD"],
        host=s["HOST"],
        port=s["PORT"],
        connect_timeout=timeout,
        # A server that stops answering fails the check in seconds, not minutes.
        tcp_user_timeout=timeout * 1000,
        options=f"-c statement_timeout={timeout * 1000}",
        application_name="beeapi-replica-check",
        autocommit=True,
    )
    return {k: v for k, v in kwargs.items() if v not in (None, "")}


class ReplicaMonitor:
    """Per-process cache of every replica's state, refreshed at most every
    ``REPLICA_CHECK_SECONDS`` by whichever thread reads first after that; other threads
    meanwhile use the previous result. Checks use connections of their own (one per
    alias, kept open), never the request's pools: a replica that is down fails the check
    at once instead of holding a request for the pool's timeout."""

    def __init__(self) -> None:
        self._status: dict[str, ReplicaStatus] = {}
        self._connections: dict[str, Any] = {}
        # Alias -> time.monotonic() when a check last found it had replayed everything
        # its primary had flushed.
        self._current_at: dict[str, float] = {}
        self._lock = threading.Lock()

    # The router's side: cheap, never blocks on another thread's check.
    def pick(self, primary: str) -> str | None:
        """A usable replica of ``primary`` (random among them), or None."""
        usable = [s.alias for s in self.statuses(primary) if s is not None and s.usable]
        return random.choice(usable) if usable else None

    def statuses(self, primary: str, *, force: bool = False) -> list[ReplicaStatus | None]:
        aliases = replicas_of(primary)
        if not aliases:
            return []
        if force or self._stale(aliases):
            if self._lock.acquire(blocking=force):
                try:
                    if force or self._stale(aliases):
                        self._check(primary, aliases)
                finally:
                    self._lock.release()
        return [self._status.get(alias) for alias in aliases]

    def mark_down(self, alias: str, exc: BaseException) -> None:
        logger.warning("read replica %s failed, reads use the primary: %s", alias, exc)
        self._status[alias] = ReplicaStatus(
            alias=alias,
            primary=primary_of(alias),
            state=DOWN,
            error=type(exc).__name__,
            checked_at=time.monotonic(),
        )

    def forget(self) -> None:
        """Drop cached states and check connections (tests; settings changes)."""
        with self._lock:
            self._status.clear()
            self._current_at.clear()
            for conn in self._connections.values():
                conn.close()
            self._connections.clear()

    def set_status(self, status: ReplicaStatus) -> None:
        """Record a state as if just checked (tests)."""
        self._status[status.alias] = status

    def _stale(self, aliases: Iterable[str]) -> bool:
        now = time.monotonic()
        interval = settings.REPLICA_CHECK_SECONDS
        for alias in aliases:
            status = self._status.get(alias)
            if status is None or now - status.checked_at >= interval:
                return True
        return False

    def _query(self, alias: str, sql: str, params: dict[str, Any] | None = None) -> tuple:
        import psycopg

        conn = self._connections.get(alias)
        if conn is None or conn.closed:
            conn = psycopg.connect(**_connect_kwargs(alias))
            self._connections[alias] = conn
        try:
            row = conn.execute(sql, params).fetchone()
        except Exception:
            self._connections.pop(alias, None)
            conn.close()
            raise
        assert row is not None
        return row

    def _check(self, primary: str, aliases: list[str]) -> None:
        asked_at = time.monotonic()
        try:
            (primary_lsn,) = self._query(primary, PRIMARY_SQL)
        except Exception as exc:  # noqa: BLE001 - any failure: judge replicas on their own
            logger.info("replica check: primary %s not asked: %s", primary, exc)
            primary_lsn = None
        for alias in aliases:
            self._status[alias] = self._check_one(primary, alias, primary_lsn, asked_at)

    def _check_one(
        self, primary: str, alias: str, primary_lsn: str | None, asked_at: float
    ) -> ReplicaStatus:
        started = time.perf_counter()
        try:
            recovering, caught_up, all_received_replayed, age, paused = self._query(
                alias, REPLICA_SQL, {"primary_lsn": primary_lsn}
            )
        except Exception as exc:  # noqa: BLE001 - any failure means "do not read here"
            if self._status.get(alias, None) is None or self._status[alias].state != DOWN:
                logger.warning("read replica %s is unreachable: %s", alias, exc)
            return ReplicaStatus(
                alias=alias,
                primary=primary,
                state=DOWN,
                error=type(exc).__name__,
                round_trip_ms=round((time.perf_counter() - started) * 1000, 1),
                checked_at=time.monotonic(),
            )
        round_trip = round((time.perf_counter() - started) * 1000, 1)
        if not recovering:
            # A promoted standby or a URL naming a primary: its data may have forked.
            return ReplicaStatus(
                alias=alias,
                primary=primary,
                state=NOT_A_REPLICA,
                error="not in recovery",
                round_trip_ms=round_trip,
                checked_at=time.monotonic(),
            )
        if caught_up:
            self._current_at[alias] = asked_at
        current = caught_up if caught_up is not None else all_received_replayed
        if current:
            lag: float | None = 0.0
        else:
            bounds = [max(0.0, age)] if age is not None else []
            if alias in self._current_at:
                bounds.append(time.monotonic() - self._current_at[alias])
            lag = round(min(bounds), 3) if bounds else None
        usable = lag is not None and lag <= settings.REPLICA_MAX_LAG_SECONDS
        return ReplicaStatus(
            alias=alias,
            primary=primary,
            state=OK if usable else LAGGING,
            lag_seconds=lag,
            replay_paused=bool(paused),
            round_trip_ms=round_trip,
            checked_at=time.monotonic(),
        )


monitor = ReplicaMonitor()


def check_now() -> dict[str, ReplicaStatus]:
    """Every replica's state, checked now (``/health``, ``dbstatus``)."""
    result: dict[str, ReplicaStatus] = {}
    for primary in getattr(settings, "DATABASE_REPLICAS", {}):
        for status in monitor.statuses(primary, force=True):
            if status is not None:
                result[status.alias] = status
    return result


# --- Read-your-writes: clients that wrote read the primary for a while -------------------

CACHE_ALIAS = "replica_pins"
_KEY_PREFIX = "beeapi:wrote:"


def _cache() -> Any:
    from django.core.cache import caches

    return caches[CACHE_ALIAS]


def client_key(credential: str) -> str:
    """A cache key for a client credential (a keyed hash: the credential is never stored)."""
    from django.utils.crypto import salted_hmac

    return _KEY_PREFIX + salted_hmac("beeapi.replicas.client", credential).hexdigest()[:40]


def recently_wrote(keys: Iterable[str]) -> bool:
    """Whether any of these clients wrote within READ_YOUR_WRITES_SECONDS. Unknown (the
    cache is down) counts as yes: the primary is always a correct answer."""
    keys = list(keys)
    if not keys or settings.READ_YOUR_WRITES_SECONDS <= 0:
        return False
    try:
        found = _cache().get_many(keys)
    except Exception as exc:  # noqa: BLE001 - the cache is an optimisation, not a must
        logger.warning("read-your-writes cache unavailable, reading the primary: %s", exc)
        return True
    now = time.time()
    return any(isinstance(until, (int, float)) and until > now for until in found.values())


def remember_write(keys: Iterable[str]) -> None:
    """These clients just wrote: pin them to the primary for READ_YOUR_WRITES_SECONDS."""
    seconds = settings.READ_YOUR_WRITES_SECONDS
    keys = list(dict.fromkeys(keys))
    if not keys or seconds <= 0:
        return
    until = time.time() + seconds
    try:
        _cache().set_many({key: until for key in keys}, timeout=int(seconds) + 1)
    except Exception as exc:  # noqa: BLE001
        logger.warning("read-your-writes cache unavailable, write not remembered: %s", exc)
