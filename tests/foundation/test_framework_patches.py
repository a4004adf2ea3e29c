"""Framework internals BeeAPI patches or relies on (docs/framework-patches.md), checked
against the installed libraries.

Each row of the doc has two kinds of test here:
- the installed library is the version the row was written for (and requirements.txt pins
  that version): any upgrade fails until someone re-checks the row and bumps it;
- the internal still has the shape the patch relies on: a private attribute exists, a
  method has the same parameters, and an upstream method whose lines a patch copies or
  depends on has the same source (a hash of ``inspect.getsource`` recorded below).

Upstream internals are tested directly (their paths do not move). The project's own patch
sites are named once, in ``SITES``: when a module moves, fix the path there.

After an upgrade: read the upstream change, adapt the patch (or delete it), then update
the version in the doc, this file's ``ROW_LIBRARIES`` and the hashes, in one commit.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import inspect
import re
from functools import cached_property
from typing import Any

import pytest
from django.conf import settings
from django.http import Http404, HttpRequest
from django.utils.functional import cached_property as django_cached_property

# --- The project's patch sites: the one place that names project modules ------------------

SITES: dict[str, str] = {
    "asgi_handler": "core.asgi_http:OneHopASGIHandler",
    "redis_client": "core.redis_cache:SharedPoolRedisCacheClient",
    "redis_cache": "core.redis_cache:SharedPoolRedisCache",
    "pool_backend": "beeapi.db_backend.base:DatabaseWrapper",
    "quick_check": "beeapi.db_backend.base:quick_check",
    "live_consumer": "monitoring.sockets:UserSocketConsumer",
    "session_middleware": "monitoring.ws_auth:ConnectSessionMiddleware",
    "autobahn_plain": "monitoring.live_hub:autobahn_plain_log_arguments",
    "pubsub_filter": "monitoring.live_hub:_PubSubOutageFilter",
    "binary_fetch": "telemetry.selectors:_fetch",
    "strict_query": "core.strict:StrictQueryMixin",
    "ordering_filter": "core.strict:StrictOrderingFilter",
    "implements_method": "core.strict:implements_method",
    "router": "core.routers:OptionalSlashRouter",
    "schema": "beeapi.schema:AutoSchema",
    "jwt_auth": "accounts.authentication:CachedUserJWTAuthentication",
    "lockout_handler": "accounts.lockout:LockoutHandler",
    "lockout_username_max": "accounts.lockout:_USERNAME_MAX",
    "replica_backend": "beeapi.replica_backend.base:DatabaseWrapper",
    "daphne_socket": "monitoring.daphne_fanout:daphne_socket",
    "shared_frame": "monitoring.daphne_fanout:SharedFrame.write",
    "write_now": "monitoring.daphne_fanout:write_now",
    "daphne_raw_post": "core.asgi_http:daphne_raw_post_bodies",
}

DOC = "docs/framework-patches.md"

# --- Per row: the library versions it was written for (as in the doc) ----------------------

ROW_LIBRARIES: dict[str, dict[str, str]] = {
    "P1": {"Django": "5.2.19"},
    "P2": {"Django": "5.2.19"},
    "P3": {"psycopg-pool": "3.3.3", "Django": "5.2.19"},
    "P4": {"channels": "4.3.2"},
    "P5": {"channels": "4.3.2"},
    "P6": {"autobahn": "26.11.1"},
    "P7": {"Django": "5.2.19"},
    "P8": {"channels-redis": "4.3.0"},
    "P9": {"djangorestframework": "3.18.3"},
    "P10": {"djangorestframework": "3.18.3"},
    "P11": {"drf-spectacular": "0.30.0"},
    "P12": {"djangorestframework-simplejwt": "5.5.1"},
    "P13": {"django-axes": "8.3.1", "djangorestframework": "3.18.3"},
    "P14": {"Django": "5.2.19"},
    "P15": {"daphne": "4.2.3", "autobahn": "26.11.1", "Twisted": "26.10.0"},
    "P16": {"daphne": "4.2.3", "Twisted": "26.10.0"},
}
# Installed as a dependency of another package, not pinned in requirements.txt.
UNPINNED: set[str] = set()  # every library a row names is pinned in requirements.txt

# --- Per row: the project class, the upstream class it extends, the methods it overrides ---

OVERRIDES: list[tuple[str, str, str, tuple[str, ...]]] = [
    ("P1", "asgi_handler", "django.core.handlers.asgi:ASGIHandler", ("__init__", "__call__")),
    (
        "P2",
        "redis_client",
        "django.core.cache.backends.redis:RedisCacheClient",
        ("__init__", "get_client", "_get_connection_pool"),
    ),
    ("P2", "redis_cache", "django.core.cache.backends.redis:RedisCache", ("__init__",)),
    ("P3", "pool_backend", "django.db.backends.postgresql.base:DatabaseWrapper", ("pool",)),
    ("P4", "live_consumer", "channels.consumer:AsyncConsumer", ("dispatch", "__call__")),
    ("P5", "session_middleware", "channels.sessions:SessionMiddleware", ("__call__",)),
    ("P8", "pubsub_filter", "logging:Filter", ("filter",)),
    (
        "P9",
        "strict_query",
        "builtins:object",
        ("initial", "perform_content_negotiation"),
    ),
    ("P9", "ordering_filter", "rest_framework.filters:OrderingFilter", ("get_ordering",)),
    ("P10", "router", "rest_framework.routers:DefaultRouter", ("__init__",)),
    (
        "P11",
        "schema",
        "drf_spectacular.openapi:AutoSchema",
        ("_get_parameters", "_get_response_bodies"),
    ),
    (
        "P12",
        "jwt_auth",
        "rest_framework_simplejwt.authentication:JWTAuthentication",
        ("get_user",),
    ),
    (
        "P13",
        "lockout_handler",
        "axes.handlers.database:AxesDatabaseHandler",
        ("get_failures", "user_login_failed"),
    ),
    (
        "P14",
        "replica_backend",
        "django.db.backends.base.base:BaseDatabaseWrapper",
        ("ensure_connection",),
    ),
]

# --- Per row: upstream code a patch copies or depends on, by a hash of its source ----------
# sha256(inspect.getsource(target))[:16]. A changed hash means the upstream code changed:
# compare it with the patch (the doc's "Relies on" column says which lines matter).

SOURCE_HASHES: list[tuple[str, str, str]] = [
    # P1: OneHopASGIHandler replaces __init__/__call__/handle and repeats, on one thread,
    # the steps of handle + run_get_response; _start copies send_response's headers.
    ("P1", "django.core.handlers.asgi:ASGIHandler.__init__", "41379d4f4b69f900"),
    ("P1", "django.core.handlers.asgi:ASGIHandler.__call__", "f756809e9c9308dc"),
    ("P1", "django.core.handlers.asgi:ASGIHandler.handle", "98faeb5bef800331"),
    ("P1", "django.core.handlers.asgi:ASGIHandler.run_get_response", "0234ea5fe09a5777"),
    ("P1", "django.core.handlers.asgi:ASGIHandler.send_response", "77eda2b08689b44e"),
    # P2: the attributes __init__ sets, how a command gets its client and pool, and how
    # RedisCache builds its client from self._class.
    ("P2", "django.core.cache.backends.redis:RedisCacheClient.__init__", "84b786df9ad9dd73"),
    ("P2", "django.core.cache.backends.redis:RedisCacheClient.get_client", "ba56fb39ace75b84"),
    (
        "P2",
        "django.core.cache.backends.redis:RedisCacheClient._get_connection_pool",
        "025850f6ffcb98ed",
    ),
    (
        "P2",
        "django.core.cache.backends.redis:RedisCacheClient._get_connection_pool_index",
        "8b1a0dd8935e5114",
    ),
    ("P2", "django.core.cache.backends.redis:RedisCache.__init__", "40131bec6169f7fa"),
    ("P2", "django.core.cache.backends.redis:RedisCache._cache", "9ff16af6c04a2401"),
    # P3: Django passes check=ConnectionPool.check_connection; the pool calls self._check
    # on every connection it hands out.
    ("P3", "django.db.backends.postgresql.base:DatabaseWrapper.pool", "e5c2654fdf2d5090"),
    ("P3", "psycopg_pool.pool:ConnectionPool._check_connection", "d0215e9299029f4e"),
    ("P3", "psycopg_pool.pool:ConnectionPool._getconn_with_check_loop", "b9ad111ba759998c"),
    # P4: dispatch is copied without aclose_old_connections(); __call__ creates the
    # socket's channel before the handshake (UserSocketConsumer.__call__ relies on it).
    ("P4", "channels.consumer:AsyncConsumer.dispatch", "39f34e7d4fb0f655"),
    ("P4", "channels.consumer:AsyncConsumer.__call__", "e52238720872dbc3"),
    # P5: SessionMiddleware.__call__ copied without the send wrapper, inside a copy of
    # AuthMiddlewareStack.
    ("P5", "channels.sessions:SessionMiddleware.__call__", "bc50432963de2e44"),
    ("P5", "channels.sessions:InstanceSessionWrapper.__init__", "1aed8029d4065532"),
    ("P5", "channels.sessions:InstanceSessionWrapper.resolve_session", "ec027b60a1466961"),
    ("P5", "channels.auth:AuthMiddlewareStack", "ad9e3506efcf551f"),
    # P6: hl() reads the module flag at call time.
    ("P6", "autobahn.util:hl", "f17ac08c2642c446"),
    # P7: _fetch calls _execute_with_wrappers with its own executor, a copy of _execute.
    ("P7", "django.db.backends.utils:CursorWrapper.__init__", "64f0525dd864b458"),
    ("P7", "django.db.backends.utils:CursorWrapper._execute_with_wrappers", "1f629e7adeb9d61b"),
    ("P7", "django.db.backends.utils:CursorWrapper._execute", "8a3a172b0a15ed53"),
    # P9: implements_method copies dispatch's handler lookup; perform_content_negotiation
    # lets the negotiator's Http404 through.
    ("P9", "rest_framework.views:APIView.dispatch", "3472ce1459213705"),
    ("P9", "rest_framework.views:APIView.perform_content_negotiation", "09698a7305a20140"),
    # P12: get_user repeats simplejwt's checks in the same order, with the same errors.
    (
        "P12",
        "rest_framework_simplejwt.authentication:JWTAuthentication.get_user",
        "780afd0c20b4c034",
    ),
    (
        "P12",
        "rest_framework_simplejwt.authentication:JWTAuthentication.__init__",
        "fd59019d8a00eb2f",
    ),
    # P13: the middleware reads axes_locked_out/axes_credentials from the Django request.
    ("P13", "axes.middleware:AxesMiddleware.__call__", "ea868806ed8eb300"),
    ("P13", "axes.handlers.database:AxesDatabaseHandler.user_login_failed", "936c079e1699e2e3"),
    # P15: daphne hands the application partial(self.handle_reply, protocol) and drops a
    # reply to a connection it counts as gone; a text reply goes through serverSend to
    # autobahn's sendMessage, whose frame (and the cases it differs: compression, masking,
    # fragmenting, the size limit) SharedFrame.write repeats with prepareMessage's bytes and
    # sendData's bookkeeping; write_now reads Twisted's write buffers (FileDescriptor's
    # dataBuffer, offset, _tempDataBuffer; the TLS flag) and sends as writeSomeData does.
    ("P15", "daphne.server:Server.create_application", "f1e300b4ecf636c8"),
    ("P15", "daphne.server:Server.handle_reply", "9d9dbaea6de0657a"),
    ("P15", "daphne.ws_protocol:WebSocketProtocol.handle_reply", "5331423b1cf2016a"),
    ("P15", "daphne.ws_protocol:WebSocketProtocol.serverSend", "345f21330d2a18ce"),
    ("P15", "autobahn.websocket.protocol:WebSocketProtocol.sendMessage", "048d6bcf0d712309"),
    ("P15", "autobahn.websocket.protocol:WebSocketProtocol.sendFrame", "89cc8b024c413aa0"),
    ("P15", "autobahn.websocket.protocol:WebSocketProtocol.sendData", "5dcca425b048b07e"),
    (
        "P15",
        "autobahn.websocket.protocol:WebSocketProtocol.sendPreparedMessage",
        "207ccbb3f0d5085c",
    ),
    ("P15", "autobahn.websocket.protocol:PreparedMessage.__init__", "76eab585334bdb71"),
    ("P15", "autobahn.websocket.protocol:WebSocketFactory.prepareMessage", "3be1cd429391b2ec"),
    ("P15", "twisted.internet.abstract:FileDescriptor.write", "3e46c97fc173bc7e"),
    ("P15", "twisted.internet.abstract:FileDescriptor.doWrite", "a986d7b1b1054e43"),
    ("P15", "twisted.internet.tcp:Connection.writeSomeData", "2dd0d4209260b94e"),
    ("P15", "twisted.internet._newtls:ConnectionMixin.write", "ea311df0946d3f99"),
    # P16: daphne's WebRequest passes its arguments on to Twisted's Request, which parses
    # a POST's form body only when parsePOSTFormSubmission is true.
    ("P16", "daphne.http_protocol:WebRequest.__init__", "ec85d9f2a762a39f"),
    ("P16", "twisted.web.http:Request.__init__", "2d3f7dbd28d0ce02"),
    ("P16", "twisted.web.http:Request.requestReceived", "99ca6c5e24305de4"),
]

# --- Per row: parameters of internals the patches call or override (annotations ignored) ---

SHAPES: list[tuple[str, str, str]] = [
    ("P1", "django.core.handlers.asgi:ASGIHandler.read_body", "(self, receive)"),
    ("P1", "django.core.handlers.asgi:ASGIHandler.create_request", "(self, scope, body_file)"),
    ("P1", "django.core.handlers.asgi:ASGIHandler.chunk_bytes", "(cls, data)"),
    ("P1", "django.core.handlers.asgi:get_script_prefix", "(scope)"),
    ("P1", "django.core.handlers.base:BaseHandler.load_middleware", "(self, is_async=False)"),
    ("P1", "django.core.handlers.base:BaseHandler.get_response", "(self, request)"),
    (
        "P2",
        "django.core.cache.backends.redis:RedisCacheClient.get_client",
        "(self, key=None, *, write=False)",
    ),
    ("P3", "psycopg_pool.pool:ConnectionPool.check_connection", "(conn)"),
    ("P4", "channels.consumer:get_handler_name", "(message)"),
    ("P5", "channels.sessions:InstanceSessionWrapper.__init__", "(self, scope, send)"),
    ("P5", "channels.sessions:InstanceSessionWrapper.resolve_session", "(self)"),
    (
        "P7",
        "django.db.backends.utils:CursorWrapper._execute_with_wrappers",
        "(self, sql, params, many, executor)",
    ),
    (
        "P9",
        "rest_framework.filters:OrderingFilter.get_valid_fields",
        "(self, queryset, view, context=None)",
    ),
    ("P9", "rest_framework.filters:OrderingFilter.get_ordering", "(self, request, queryset, view)"),
    ("P9", "rest_framework.views:APIView.initial", "(self, request, *args, **kwargs)"),
    (
        "P9",
        "rest_framework.views:APIView.perform_content_negotiation",
        "(self, request, force=False)",
    ),
    ("P11", "drf_spectacular.openapi:AutoSchema._get_parameters", "(self)"),
    (
        "P11",
        "drf_spectacular.openapi:AutoSchema._get_response_bodies",
        "(self, direction='response')",
    ),
    ("P11", "drf_spectacular.openapi:AutoSchema._is_list_view", "(self, serializer=None)"),
    (
        "P13",
        "axes.handlers.database:AxesDatabaseHandler.get_failures",
        "(self, request, credentials=None)",
    ),
    (
        "P13",
        "axes.handlers.database:AxesDatabaseHandler.user_login_failed",
        "(self, sender, credentials, request=None, **kwargs)",
    ),
    ("P13", "axes.helpers:get_failure_limit", "(request, credentials)"),
    ("P13", "axes.helpers:get_cool_off", "(request=None)"),
    ("P13", "axes.attempts:get_cool_off_threshold", "(request=None)"),
]


# --- Helpers --------------------------------------------------------------------------------


def _resolve(target: str) -> Any:
    """``"package.module:Class.attr"`` → the object (a property's getter, a cached
    property's function, a static method's function)."""
    module_name, _, attrs = target.partition(":")
    obj: Any = importlib.import_module(module_name)
    for attr in attrs.split(".") if attrs else ():
        obj = inspect.getattr_static(obj, attr) if inspect.isclass(obj) else getattr(obj, attr)
    if isinstance(obj, staticmethod | classmethod):
        obj = obj.__func__
    if isinstance(obj, cached_property | django_cached_property):
        obj = obj.func
    if isinstance(obj, property):
        obj = obj.fget
    return obj


def site(name: str) -> Any:
    return _resolve(SITES[name])


def _source_hash(obj: Any) -> str:
    return hashlib.sha256(inspect.getsource(obj).encode()).hexdigest()[:16]


def _shape(obj: Any) -> str:
    signature = inspect.signature(obj)
    plain = [p.replace(annotation=inspect.Parameter.empty) for p in signature.parameters.values()]
    return str(signature.replace(parameters=plain, return_annotation=inspect.Signature.empty))


def _recheck(row: str) -> str:
    return f"re-check {DOC} row {row}, then bump"


def _doc_rows() -> dict[str, str]:
    text = (settings.BASE_DIR / DOC).read_text()
    return {
        m.group(1): line for line in text.splitlines() if (m := re.match(r"\| (P\d+) \|", line))
    }


def _pins() -> dict[str, str]:
    pins = {}
    for line in (settings.BASE_DIR / "requirements.txt").read_text().splitlines():
        m = re.match(r"([A-Za-z0-9_.-]+)(\[[^]]*\])?==([^\s#]+)", line.strip())
        if m:
            pins[_normal(m.group(1))] = m.group(3)
    return pins


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


# --- (a) versions -------------------------------------------------------------------------

_VERSIONS = [
    (row, dist, version) for row, libs in ROW_LIBRARIES.items() for dist, version in libs.items()
]


@pytest.mark.parametrize(("row", "dist", "version"), _VERSIONS)
def test_installed_version_is_the_one_the_row_was_written_for(
    row: str, dist: str, version: str
) -> None:
    installed = importlib.metadata.version(dist)
    assert installed == version, (
        f"{dist} {installed} is installed; {DOC} row {row} was written for {version}: "
        f"{_recheck(row)}"
    )


@pytest.mark.parametrize(("row", "dist", "version"), _VERSIONS)
def test_requirements_pin_the_version_the_row_names(row: str, dist: str, version: str) -> None:
    if dist in UNPINNED:
        pytest.skip(f"{dist} is not pinned in requirements.txt (the doc says what brings it)")
    assert _pins().get(_normal(dist)) == version, (
        f"requirements.txt pins {dist}=={_pins().get(_normal(dist))}, {DOC} row {row} "
        f"names {version}: {_recheck(row)}"
    )


@pytest.mark.parametrize(("row", "dist", "version"), _VERSIONS)
def test_the_doc_names_the_same_version(row: str, dist: str, version: str) -> None:
    line = _doc_rows().get(row)
    assert line is not None, f"{DOC} has no row {row}"
    assert f"{dist} {version}" in line, f"{DOC} row {row} does not say '{dist} {version}'"


def test_every_doc_row_is_tested() -> None:
    assert set(_doc_rows()) == set(ROW_LIBRARIES)


# --- (b) the internals' shape ------------------------------------------------------------


@pytest.mark.parametrize(("row", "target", "recorded"), SOURCE_HASHES, ids=lambda v: str(v))
def test_upstream_source_is_unchanged(row: str, target: str, recorded: str) -> None:
    current = _source_hash(_resolve(target))
    assert current == recorded, (
        f"{target} changed upstream (source hash {current}, recorded {recorded}): compare "
        f"it with the patch, adapt the patch, record the new hash; {_recheck(row)}"
    )


@pytest.mark.parametrize(("row", "target", "shape"), SHAPES, ids=lambda v: str(v))
def test_internal_has_the_parameters_relied_on(row: str, target: str, shape: str) -> None:
    current = _shape(_resolve(target))
    assert current == shape, f"{target} is now {current}, was {shape}: {_recheck(row)}"


@pytest.mark.parametrize(("row", "name", "upstream", "methods"), OVERRIDES, ids=lambda v: str(v))
def test_patch_site_still_extends_and_overrides(
    row: str, name: str, upstream: str, methods: tuple[str, ...]
) -> None:
    """The doc's "Where" still exists and still patches what the row says (a failure
    here after a move: fix SITES; after a deletion: remove the row)."""
    cls = site(name)
    base = _resolve(upstream)
    assert issubclass(cls, base), f"{SITES[name]} no longer extends {upstream}"
    for method in methods:
        assert method in vars(cls), f"{SITES[name]} no longer overrides {method} (row {row})"
        if upstream != "builtins:object":
            assert hasattr(base, method), f"{upstream}.{method} is gone: {_recheck(row)}"


@pytest.mark.parametrize(
    "name",
    [
        "quick_check",
        "autobahn_plain",
        "binary_fetch",
        "daphne_socket",
        "shared_frame",
        "write_now",
        "daphne_raw_post",
    ],
)
def test_patch_functions_exist(name: str) -> None:
    assert callable(site(name)), f"{SITES[name]} is gone: fix SITES or remove its row"


# --- (b) behaviour, where a shape is not enough -------------------------------------------


def test_p1_asgi_handler_chunk_size() -> None:
    from django.core.handlers.asgi import ASGIHandler

    assert isinstance(ASGIHandler.chunk_size, int), _recheck("P1")


def test_p3_pool_keeps_its_check_in_a_private_attribute() -> None:
    from psycopg_pool import ConnectionPool

    def check(conn: Any) -> None:
        pass

    pool = ConnectionPool("", open=False, check=check)
    assert pool._check is check, (
        f"ConnectionPool no longer keeps check= in _check: {_recheck('P3')}"
    )


def test_p6_autobahn_has_the_click_flag() -> None:
    # autobahn_plain_log_arguments() does nothing when the flag is gone (hasattr): this
    # test is what notices.
    from autobahn import util

    assert hasattr(util, "_HAS_CLICK"), f"autobahn.util._HAS_CLICK is gone: {_recheck('P6')}"


def test_p8_channels_redis_logs_the_filtered_messages() -> None:
    import channels_redis.pubsub as pubsub

    assert pubsub.logger.name == "channels_redis.pubsub", _recheck("P8")
    source = inspect.getsource(pubsub)
    for message in site("pubsub_filter").MESSAGES:
        # logger.exception(message) with no arguments: record.msg is the text, with exc_info.
        assert f"logger.exception({message!r})".replace("'", '"') in source, (
            f"channels_redis.pubsub no longer logs {message!r} as the filter expects: "
            f"{_recheck('P8')}"
        )


def test_p9_unknown_format_is_an_http404_from_the_negotiator() -> None:
    from rest_framework.negotiation import DefaultContentNegotiation

    with pytest.raises(Http404):
        DefaultContentNegotiation().filter_renderers([], "csv")


def test_p10_trailing_slash_is_put_into_a_regex() -> None:
    from rest_framework import viewsets
    from rest_framework.response import Response
    from rest_framework.routers import DefaultRouter

    class Things(viewsets.ViewSet):
        def list(self, request: Any) -> Response:
            return Response([])

    router = DefaultRouter()
    router.include_format_suffixes = False
    router.trailing_slash = "/?"
    router.register("things", Things, basename="thing")
    patterns = [p.pattern for p in router.urls if p.name == "thing-list"]
    assert patterns, _recheck("P10")
    for path in ("things", "things/"):
        assert any(p.match(path) for p in patterns), f"{path!r}: {_recheck('P10')}"
    assert not any(".(?P<format>" in str(p.pattern) for p in router.urls), _recheck("P10")


def test_p11_get_operation_calls_the_overridden_hooks() -> None:
    from drf_spectacular.openapi import AutoSchema

    source = inspect.getsource(AutoSchema.get_operation)
    for call in ("self._get_parameters()", "self._get_response_bodies()"):
        assert call in source, f"AutoSchema.get_operation no longer calls {call}: {_recheck('P11')}"


def test_p13_axes_username_length_and_drf_inner_request() -> None:
    from axes.models import AccessAttempt
    from rest_framework.request import Request

    max_length = AccessAttempt._meta.get_field("username").max_length
    assert max_length == site("lockout_username_max"), _recheck("P13")
    inner = HttpRequest()
    assert Request(inner)._request is inner, _recheck("P13")


def test_p14_ensure_connection_and_execute_wrappers(django_db_blocker: Any) -> None:
    from django.db import connection
    from django.db.backends.base.base import BaseDatabaseWrapper

    # pytest-django swaps ensure_connection for a blocker while the database is blocked.
    with django_db_blocker.unblock():
        ensure_connection = inspect.getattr_static(BaseDatabaseWrapper, "ensure_connection")
        assert _shape(ensure_connection) == "(self)", _recheck("P14")
        assert _source_hash(ensure_connection) == "d7ea674f3e5e3bcb", (
            f"BaseDatabaseWrapper.ensure_connection changed upstream: {_recheck('P14')}"
        )
    assert isinstance(connection.execute_wrappers, list), _recheck("P14")
