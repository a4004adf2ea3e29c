"""Django's Redis cache with one client and connection pool per server process.

Django keeps cache objects in a context-local (``django.core.cache.caches``), and
``RedisCacheClient`` keeps its connection pool on the object. Under ASGI every request
runs in a context of its own (core/asgi_http runs it in a copy of its task's), so with
Django's client every request builds a new cache, a new pool and a new TCP connection to
Redis, and redis-py reads its own package metadata from disk for each connection's
client name. This is Django ticket #35651 (open). Here the pools are shared the way its proposed fix
shares them, keyed by server and options, and so is the ``redis.Redis`` client on each
pool (Django builds one per command, with a table of some 170 response callbacks).
redis-py's clients and pools are thread-safe and reset their connections in a forked
child.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from django.core.cache.backends.redis import RedisCache, RedisCacheClient

_clients: dict[tuple[str, ...], Any] = {}
_clients_lock = threading.Lock()


class SharedPoolRedisCacheClient(RedisCacheClient):
    # Set by RedisCacheClient.__init__ (the stubs do not declare them).
    _servers: list[str]
    _client: Any
    _pool_class: Any
    _pool_options: dict[str, Any]

    if TYPE_CHECKING:

        def _get_connection_pool_index(self, write: bool) -> int: ...

    def __init__(self, servers: list[str], **options: Any) -> None:
        super().__init__(servers, **options)
        # What two clients must agree on to share a connection, besides the server.
        self._sharing = (
            repr(self._client),
            repr(self._pool_class),
            repr(sorted(self._pool_options.items())),
        )

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        server = self._servers[self._get_connection_pool_index(write)]
        shared = (server, *self._sharing)
        client = _clients.get(shared)
        if client is None:
            with _clients_lock:
                client = _clients.get(shared)
                if client is None:
                    pool = self._pool_class.from_url(server, **self._pool_options)
                    client = _clients[shared] = self._client(connection_pool=pool)
        return client

    def _get_connection_pool(self, write: bool) -> Any:
        return self.get_client(write=write).connection_pool


class SharedPoolRedisCache(RedisCache):
    """``django.core.cache.backends.redis.RedisCache`` whose connections outlive the
    request: ``BACKEND: core.redis_cache.SharedPoolRedisCache``, same options."""

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = SharedPoolRedisCacheClient
