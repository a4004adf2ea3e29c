"""BeeAPI settings: one module, every value read from the environment.

See https://docs.djangoproject.com/en/5.2/ref/settings/ and the configuration table in
README.md. Two database aliases follow the v2 architecture: ``default`` (PostgreSQL,
entities) and ``telemetry`` (TimescaleDB, readings), both behind psycopg 3 pools.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from beeapi.env import env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

# --- Core ------------------------------------------------------------------------------
DEBUG = env_bool("DEBUG", False)
_DEV_SECRET = "django-insecure-beeapi-local-development-only"
SECRET_KEY = env_str("SECRET_KEY", _DEV_SECRET if DEBUG else "")
if not SECRET_KEY:
    # Refuse to run in production with a guessable key; local runs set DEBUG=true.
    raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is false")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "console.admin_site.BeeAdminConfig",  # django.contrib.admin with BeeAPI's site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "axes",
    "beeapi",
    "accounts",
    "apiary",
    "telemetry",
    "monitoring",
    "sensors",
    "alerts",
    "console",
]
# Development tools (the benchmark commands): installed by `make run`, `make manage` and
# `make test` (devtools/devstack.py sets BEEAPI_DEVTOOLS), never in the image, which
# leaves devtools/ out.
if env_bool("BEEAPI_DEVTOOLS", False):
    INSTALLED_APPS.append("devtools")

MIDDLEWARE = [
    "beeapi.middleware.RequestGuardMiddleware",
    # Read replicas: which requests may read them, read-your-writes (no-op without them).
    "beeapi.middleware.ReadReplicaMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Pages in the signed-in user's time zone; API answers stay in UTC.
    "accounts.middleware.UserTimeZoneMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "beeapi.middleware.DatabaseUnavailableMiddleware",
    # Last, as django-axes requires: turns a locked-out sign-in into its 429 answer.
    "axes.middleware.AxesMiddleware",
]

# Largest request body, in bytes: a bigger one is a 413 JSON answer before it is read.
# A full telemetry batch (TELEMETRY_MAX_BATCH readings) takes well under a megabyte.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("MAX_REQUEST_BYTES", 2_621_440)

# Admin messages in the session, not a cookie: one of them is a new device key.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

ROOT_URLCONF = "beeapi.urls"
WSGI_APPLICATION = "beeapi.wsgi.application"
ASGI_APPLICATION = "beeapi.asgi.application"
# The design's URLs have no trailing slash (POST /hives); routes accept both forms.
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Databases (https://docs.djangoproject.com/en/5.2/ref/databases/#connection-pool) ---
# Outside DEBUG nothing here has a password default: POSTGRES_URL and TIMESCALE_URL (or
# *_URL_FILE) must be set. A URL without a password takes POSTGRES_PASSWORD /
# TIMESCALE_PASSWORD (or their *_FILE, Docker secrets), which also cover the replicas.
_DEV_POSTGRES_URL = "postgresql://beeapi:beeapi123@localhost:5432/beeapi"
_DEV_TIMESCALE_URL = "postgresql://beeapi:beeapi123@localhost:5433/beeapi_telemetry"
POSTGRES_URL = env_str("POSTGRES_URL", _DEV_POSTGRES_URL if DEBUG else "")
POSTGRES_PASSWORD = env_str("POSTGRES_PASSWORD", "")
TIMESCALE_PASSWORD = env_str("TIMESCALE_PASSWORD", "")
# Single-database mode (small installs): readings live beside the entity tables, in the
# database of POSTGRES_URL. On with TELEMETRY_SAME_DATABASE=true and TIMESCALE_URL unset,
# or with TIMESCALE_URL naming the same database as POSTGRES_URL. Both aliases stay (the
# code does not change), with the same connection settings; beeapi/db_router.py then
# migrates every app on either alias, since both share one django_migrations table.
_SAME_DATABASE_ENV = env_str("TELEMETRY_SAME_DATABASE", "")
TIMESCALE_URL = env_str("TIMESCALE_URL", "") or (
    POSTGRES_URL
    if env_bool("TELEMETRY_SAME_DATABASE", False)
    else (_DEV_TIMESCALE_URL if DEBUG else "")
)
for _name, _url in (("POSTGRES_URL", POSTGRES_URL), ("TIMESCALE_URL", TIMESCALE_URL)):
    if not _url:
        raise ImproperlyConfigured(
            f"{_name} (or {_name}_FILE) must be set when DEBUG is false: there is no default "
            "database outside development"
        )
DB_POOL_MIN_SIZE = env_int("DB_POOL_MIN_SIZE", 2)
DB_POOL_MAX_SIZE = env_int("DB_POOL_MAX_SIZE", 10)
# Seconds a request waits for a pooled connection (or a new one) before the database
# counts as unavailable and the request answers 503.
DB_POOL_TIMEOUT = env_int("DB_POOL_TIMEOUT", 3)
# Seconds a pool keeps replacing a lost connection in the background, each attempt after
# a doubling pause; then it stops, and the next request that needs a connection starts
# a fresh attempt at once. psycopg_pool's default, 300 s, lets the pause grow with the
# outage: the pool would find a promoted standby (docs/scaling.md "Failover") or a
# restarted server up to as long after it is back as the outage lasted.
DB_POOL_RECONNECT_TIMEOUT = env_int("DB_POOL_RECONNECT_TIMEOUT", 5)
if DB_POOL_RECONNECT_TIMEOUT < 1:
    raise ImproperlyConfigured(
        f"DB_POOL_RECONNECT_TIMEOUT must be 1 or more, not {DB_POOL_RECONNECT_TIMEOUT}"
    )
# Threads of a server process that answer HTTP requests (core/asgi_http.py). One
# request holds at most one connection of each pool, so as many threads as pooled
# connections never wait for one; more requests queue for a thread.
HTTP_THREADS = env_int("HTTP_THREADS", DB_POOL_MAX_SIZE)
# Garbage collector of a server process (beeapi/gc_tuning.py): what startup loaded is
# frozen out of collection and a young-generation collection runs every SERVER_GC_GEN0
# allocations (Python's default 700). 0 leaves the collector as Python sets it.
SERVER_GC_GEN0 = env_int("SERVER_GC_GEN0", 10_000)
if SERVER_GC_GEN0 < 0:
    raise ImproperlyConfigured(f"SERVER_GC_GEN0 must be 0 or more, not {SERVER_GC_GEN0}")


def _host_list(url: str) -> tuple[str, str, str] | None:
    """A multi-host URL (``postgresql://u:p@h1:5432,h2:5432/db``, as ``pg_autoctl show uri``
    prints for a failover formation, docs/scaling.md "Failover") split for dj-database-url,
    which refuses it: the URL with its first host alone, and libpq's comma-separated host
    and port lists. None for a URL with one host."""
    scheme, sep, rest = url.partition("://")
    netloc, slash, tail = rest.partition("/")
    userinfo, at, hosts = netloc.rpartition("@")
    if not sep or "," not in hosts:
        return None
    names, ports = [], []
    for entry in hosts.split(","):
        # "host:5432", "host" (the default port) or "[::1]:5432".
        if entry.startswith("["):
            name, _, port = entry[1:].partition("]")
            port = port.removeprefix(":")
        else:
            name, _, port = entry.partition(":")
        names.append(name)
        ports.append(port)
    if any(ports):
        ports = [port or "5432" for port in ports]
    one_host = f"{scheme}://{userinfo}{at}{hosts.split(',')[0]}{slash}{tail}"
    return one_host, ",".join(names), ",".join(ports) if any(ports) else ""


def _database(url: str, password: str = "") -> dict:
    hosts = _host_list(url)
    config = dj_database_url.parse(
        hosts[0] if hosts else url, engine="django.db.backends.postgresql"
    )
    if hosts:
        # libpq (and psycopg's pool) try each host in turn; with
        # target_session_attrs=read-write in the URL, only the primary is kept.
        config["HOST"], config["PORT"] = hosts[1], hosts[2]
    if password and not config.get("PASSWORD"):
        config["PASSWORD"] = password
    # Django's PostgreSQL backend with a pool check that costs no round trip for a
    # healthy connection (beeapi/db_backend/base.py).
    config["ENGINE"] = "beeapi.db_backend"
    config["CONN_MAX_AGE"] = 0  # required with a pool: the pool owns connection lifetime
    # With a pool, every connection is checked before it is handed out (quick_check), so
    # a restarted server never gives a request a dead connection; the pool replaces it.
    config["CONN_HEALTH_CHECKS"] = True
    config["OPTIONS"] = {
        # The URL's own parameters (target_session_attrs, sslmode...), then BeeAPI's.
        **config.get("OPTIONS", {}),
        "connect_timeout": DB_POOL_TIMEOUT,
        # No JIT: BeeAPI's queries are short, and a large row estimate (a year of daily
        # figures) trips the JIT threshold, whose compiling then outweighs the query.
        "options": "-c jit=off",
        # Django turns psycopg's prepared statements off (None). A threshold no query
        # reaches by repetition instead: only the queries that ask for it are prepared
        # (telemetry.selectors._fetch(prepare=True), the pages read most); the ORM's
        # client-side cursors never are.
        "prepare_threshold": PREPARE_ONLY_WHEN_ASKED,
        "pool": {
            "min_size": DB_POOL_MIN_SIZE,
            "max_size": DB_POOL_MAX_SIZE,
            "timeout": DB_POOL_TIMEOUT,
            "reconnect_timeout": DB_POOL_RECONNECT_TIMEOUT,
        },
    }
    return config


PREPARE_ONLY_WHEN_ASKED = 2**31 - 1


def _same_database(a: dict, b: dict) -> bool:
    """Whether two parsed URLs name one database (host, port and name alike)."""
    key = ("HOST", "PORT", "NAME")
    return [str(a.get(k) or "") for k in key] == [str(b.get(k) or "") for k in key]


DATABASES = {
    "default": _database(POSTGRES_URL, POSTGRES_PASSWORD),
    "telemetry": _database(TIMESCALE_URL, TIMESCALE_PASSWORD),
}
TELEMETRY_SAME_DATABASE = _same_database(DATABASES["default"], DATABASES["telemetry"])
if _SAME_DATABASE_ENV and env_bool("TELEMETRY_SAME_DATABASE", False) != TELEMETRY_SAME_DATABASE:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        "TELEMETRY_SAME_DATABASE=true needs TIMESCALE_URL unset or naming the database of "
        "POSTGRES_URL"
        if not TELEMETRY_SAME_DATABASE
        else "TELEMETRY_SAME_DATABASE=false but TIMESCALE_URL names the database of "
        "POSTGRES_URL: give the telemetry database its own URL, or drop the variable"
    )
if TELEMETRY_SAME_DATABASE:
    # One database, one set of connection settings (and the same test database).
    DATABASES["telemetry"] = _database(POSTGRES_URL, POSTGRES_PASSWORD)

# Read replicas (README "Read replicas"): streaming standbys of the primaries, comma
# separated. Each URL becomes an alias, default_replica_1… / telemetry_replica_1…, with its
# primary's connection settings and pool. The router (beeapi/replicas.py) sends a read to a
# healthy replica when the request reads only and its client has not just written; writes,
# transactions, commands and WebSocket consumers use the primary. In single-database mode
# the telemetry alias reads from the POSTGRES_REPLICA_URLS replicas, as it is that database.
POSTGRES_REPLICA_URLS = env_list("POSTGRES_REPLICA_URLS", [])
TIMESCALE_REPLICA_URLS = env_list("TIMESCALE_REPLICA_URLS", [])


def _env_seconds(name: str, default: float) -> float:
    raw = env_str(name, "").strip()
    try:
        value = float(raw) if raw else default
    except ValueError:
        value = -1.0
    if value < 0:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(f"{name} must be a number of seconds, not {raw!r}")
    return value


# A replica further behind its primary than this is not read (the primary is, instead).
REPLICA_MAX_LAG_SECONDS = _env_seconds("REPLICA_MAX_LAG_SECONDS", 10)
# How often each server process checks its replicas' lag (cached in between).
REPLICA_CHECK_SECONDS = _env_seconds("REPLICA_CHECK_SECONDS", 2)
# A client that wrote reads the primary for this long (0: only the writing request does).
READ_YOUR_WRITES_SECONDS = _env_seconds("READ_YOUR_WRITES_SECONDS", 5)


def _replicas(primary: str, urls: list[str], variable: str) -> dict[str, dict]:
    aliases = {}
    for number, url in enumerate(urls, start=1):
        config = _database(url, DATABASES[primary].get("PASSWORD") or "")
        if _same_database(config, DATABASES[primary]):
            from django.core.exceptions import ImproperlyConfigured

            raise ImproperlyConfigured(
                f"{variable} names the {primary} primary itself (host, port and database)"
            )
        # Failures of a replica's connection reach beeapi.replicas (skipped until rechecked).
        config["ENGINE"] = "beeapi.replica_backend"
        # Tests read the primary's test database through the replica alias.
        config["TEST"] = {"MIRROR": primary}
        aliases[f"{primary}_replica_{number}"] = config
    return aliases


if TELEMETRY_SAME_DATABASE and TIMESCALE_REPLICA_URLS not in ([], POSTGRES_REPLICA_URLS):
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        "single-database mode: the telemetry alias reads from the POSTGRES_REPLICA_URLS "
        "replicas; leave TIMESCALE_REPLICA_URLS unset"
    )
_DEFAULT_REPLICAS = _replicas("default", POSTGRES_REPLICA_URLS, "POSTGRES_REPLICA_URLS")
_TELEMETRY_REPLICAS = (
    _replicas("telemetry", POSTGRES_REPLICA_URLS, "POSTGRES_REPLICA_URLS")
    if TELEMETRY_SAME_DATABASE
    else _replicas("telemetry", TIMESCALE_REPLICA_URLS, "TIMESCALE_REPLICA_URLS")
)
DATABASES.update(_DEFAULT_REPLICAS)
DATABASES.update(_TELEMETRY_REPLICAS)
# Primary alias -> its replica aliases (beeapi/replicas.py).
DATABASE_REPLICAS = {"default": list(_DEFAULT_REPLICAS), "telemetry": list(_TELEMETRY_REPLICAS)}
DATABASE_ROUTERS = ["beeapi.db_router.TelemetryRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth -------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "admin:login"
# Trusted reverse proxies in front of the app. 0: the socket address is the client and
# X-Forwarded-For is ignored, so a spoofed header cannot reset a throttle or lockout.
# Behind one proxy that appends to X-Forwarded-For (nginx, a load balancer), set 1.
NUM_PROXIES = env_int("NUM_PROXIES", 0)

# Failed sign-ins (django-axes, accounts/lockout.py), on /admin/login/ and /auth/token:
# the admin has no other throttle, and every beekeeper is staff.
AUTHENTICATION_BACKENDS = [
    # Refuses a locked-out attempt before any password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_HANDLER = "accounts.lockout.LockoutHandler"  # attempts in the database, all processes
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15))
# Locked: one account from one address. Not the account alone (anyone could lock any
# beekeeper out from anywhere), not the address alone at this low limit (a shared NAT).
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# Password spraying (few guesses each at many accounts from one address) is capped by
# this higher per-address limit, over all accounts (LockoutHandler); 0 turns it off.
AXES_IP_FAILURE_LIMIT = env_int("AXES_IP_FAILURE_LIMIT", 20)
AXES_RESET_ON_SUCCESS = True
# An attempt while locked out counts and restarts the cool-off: guessing on stays locked.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = True
# The admin's form passes "username", /auth/token "email"; both mean the email.
AXES_USERNAME_FORM_FIELD = "email"
AXES_USERNAME_CALLABLE = "accounts.lockout.lockout_username"
# The socket address unless NUM_PROXIES: a spoofed X-Forwarded-For changes nothing.
AXES_CLIENT_IP_CALLABLE = "beeapi.client_ip.client_ip"
AXES_LOCKOUT_CALLABLE = "accounts.lockout.lockout_response"

# --- Internationalisation ---------------------------------------------------------------
LANGUAGE_CODE = "en-us"
# Stored and served (the API) in UTC; pages are in the signed-in user's zone
# (accounts.middleware.UserTimeZoneMiddleware), written in one form, 2026-12-07 13:35.
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
# Localisation is always on, so the locale's formats win over the settings below:
# beeapi/formats/en holds the same ones, ahead of Django's English.
FORMAT_MODULE_PATH = ["beeapi.formats"]
DATE_FORMAT = "Y-m-d"
DATETIME_FORMAT = "Y-m-d H:i"
TIME_FORMAT = "H:i"
SHORT_DATE_FORMAT = "Y-m-d"
SHORT_DATETIME_FORMAT = "Y-m-d H:i"

# --- Static files (served by WhiteNoise, also under daphne in production) ---------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
# In development WhiteNoise serves straight from the app directories.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG

# --- REST framework ---------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # simplejwt's, with the token's user cached (accounts/authentication.py)
        "accounts.authentication.CachedUserJWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # JSON only: one way in to validate (forms and multipart bodies are refused with 415).
    "DEFAULT_PARSER_CLASSES": ["core.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "core.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "core.strict.StrictOrderingFilter",
        "rest_framework.filters.SearchFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "beeapi.schema.AutoSchema",
    "EXCEPTION_HANDLER": "core.exceptions.exception_handler",
    "NUM_PROXIES": NUM_PROXIES,
    "DEFAULT_THROTTLE_RATES": {
        "auth": env_str("AUTH_THROTTLE_RATE", "10/min"),
    },
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    # Coordinates are JSON numbers, in and out (the schema says so).
    "COERCE_DECIMAL_TO_STRING": False,
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env_int("JWT_ACCESS_MINUTES", 15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env_int("JWT_REFRESH_DAYS", 7)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
    "USER_ID_FIELD": "id",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "BeeAPI",
    "DESCRIPTION": (
        "Open platform for sensor-equipped beehives: apiaries, hives, queens, events and "
        "hive telemetry. Authenticate with `POST /auth/token` and send "
        "`Authorization: Bearer <access>`. Sensor gateways send readings to "
        "`POST /telemetry` with their hive's `X-Device-Key`.\n\n"
        "## Roles\n"
        "An apiary has an owner and may be shared (`/apiaries/{id}/members`) with viewers "
        "(read everything, follow live streams) and editors (also create and change hives, "
        "queens and events, post readings; not delete hives or the apiary, not manage "
        "members, not see device keys). Every object answers 404 to a user with no role in "
        "its apiary and 403, naming the role needed, to a role that does not allow the "
        "action. Each apiary in `GET /apiaries` carries your `role`.\n\n"
        "## Live stream: `WS /ws/hive/{id}/telemetry`\n"
        "Authenticate with `?token=<access>`, an `Authorization: Bearer` header, or the "
        'session cookie. The server sends `{"type": "history", "hive": 7, "device_id": '
        '"gw-1", "readings": [...]}` (the last 10 readings, oldest first), then '
        '`{"type": "readings", "hive": 7, "device_id": "gw-1", "readings": [...]}` for '
        "every ingested batch with only its new readings, oldest first. A reading is "
        '`{"time", "temperature", "humidity", "weight", "sound_level", '
        '"outside_temperature", "battery", "rssi", "snr"}` (absent metrics are null). '
        "Close codes: 4401 missing, bad or "
        "expired token; 4404 unknown or another user's hive; 4429 too many sockets; 4503 "
        'telemetry database unavailable. Send `{"type": "ping"}` to get '
        '`{"type": "pong"}`.'
    ),
    "VERSION": "2.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Hives and alerts both have a "status": name each choice set after its model.
    "ENUM_NAME_OVERRIDES": {
        "HiveStatusEnum": "apiary.models.Hive.Status",
        "AlertStatusEnum": "alerts.models.Status",
        # A member's role (viewer, editor): the membership, its invitation and answers.
        "MemberRoleEnum": [("viewer", "Viewer"), ("editor", "Editor")],
        # An alert's kind keeps its name; an integration's kind (ttn) is another enum.
        "KindEnum": "alerts.models.Kind",
        "IntegrationKindEnum": "sensors.models.Integration.Kind",
        # The temperature a weight calibration's temperature term reads.
        "TemperatureMetricEnum": "telemetry.models.Calibration.TemperatureMetric",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "beeapi.schema.strip_optional_trailing_slash",
        "beeapi.schema.add_error_component",
    ],
}

# --- Channels ---------------------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL", "")
if REDIS_URL:
    # The pub/sub layer fans a group message out with one PUBLISH, received once per
    # server process; the list-based core layer writes to every socket's channel, so
    # pub/sub delivers sooner (docs/scaling.md). Live readings are fire-and-forget
    # either way.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL]},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
# Open live-telemetry sockets allowed per user and per server process; more are closed
# with code 4429.
LIVE_MAX_SOCKETS_PER_USER = env_int("LIVE_MAX_SOCKETS_PER_USER", 20)
LIVE_MAX_SOCKETS_PER_PROCESS = env_int("LIVE_MAX_SOCKETS_PER_PROCESS", 2000)
# A live socket's right to its stream is checked against the database at least this
# often (and whenever the channel layer comes back): a removal, a deleted or moved hive
# closes it with 4404 within this time even if the message announcing it was lost.
LIVE_ACCESS_RECHECK_SECONDS = env_int("LIVE_ACCESS_RECHECK_SECONDS", 30)

# --- Cache ------------------------------------------------------------------------------
# "default" stays Django's per-process local memory.
# "throttle" counts the sign-in and registration throttles: in Redis with REDIS_URL, so
# the limit holds across every server process; else per process (the limit is then
# multiplied by the number of processes, WEB_CONCURRENCY).
# "replica_pins" remembers which clients just wrote, so they read the primary (read
# replicas' read-your-writes): in Redis with REDIS_URL, so every server process knows;
# else per process (then several processes each know only their own requests).
# "entities" holds the hot entity lookups (apiary.selectors.device_by_key: device key ->
# hive), forgotten on every change of a hive (apiary.signals); in Redis with REDIS_URL,
# shared and invalidated across processes. Without Redis it is per process, which is
# safe because `manage.py serve` runs one process without Redis; ENTITY_CACHE_SECONDS
# bounds how long a change made by another process (a management command) goes unseen.


def _shared_cache(name: str) -> dict:
    if not REDIS_URL:
        # Room for every device key a process serves (the default 300 would make a process
        # with more devices than that read most keys from the database).
        return {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": name,
            "OPTIONS": {"MAX_ENTRIES": 100_000},
        }
    return {
        "BACKEND": "core.redis_cache.SharedPoolRedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": f"beeapi.{name}",
        # A Redis that hangs costs a request a second, then it reads the database.
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    }


CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "replica_pins": _shared_cache("replica-pins"),
    "throttle": _shared_cache("throttle"),
    "entities": _shared_cache("entities"),
}
ENTITY_CACHE_SECONDS = env_int("ENTITY_CACHE_SECONDS", 300)

# --- Telemetry --------------------------------------------------------------------------
# Compression and retention of raw readings (TimescaleDB mode; retention also drives the
# plain-PostgreSQL `prune_readings` command). Retention must stay well beyond the hourly
# aggregate's refresh window, or hourly rows would be computed from dropped data.
TELEMETRY_COMPRESS_AFTER_DAYS = env_int("TELEMETRY_COMPRESS_AFTER_DAYS", 7)
TELEMETRY_RETENTION_DAYS = env_int("TELEMETRY_RETENTION_DAYS", 365)
# Readings per POST /telemetry request (a larger batch is refused with 413). Batches of
# about 1,000 are the sweet spot for throughput; the limit bounds request memory and time.
TELEMETRY_MAX_BATCH = env_int("TELEMETRY_MAX_BATCH", 5000)
# Group commit of the HTTP ingest (telemetry.collector): the readings of requests that
# arrive within this many milliseconds of each other go into one COPY and one commit, and
# each request is answered after that commit. 0 stores every request on its own. A batch
# closes early once it holds TELEMETRY_COLLECT_MAX_READINGS readings, or every request
# the process is serving (so a request alone never waits). 10 rather than 20: device-shaped
# load reached 79-90% of the trivial view against 71-87% (docs/scaling.md, "Device-shaped
# ingest"), at 5-6 readings per commit instead of 6-6.5.
TELEMETRY_COLLECT_MS = env_int("TELEMETRY_COLLECT_MS", 10)
TELEMETRY_COLLECT_MAX_READINGS = env_int("TELEMETRY_COLLECT_MAX_READINGS", 1000)

# --- MQTT (sensors a beekeeper already owns) ---------------------------------------------
# BeeAPI's own Mosquitto broker with the dynamic-security plugin: mqtt://host:port. Empty
# (the default) turns MQTT off: no device clients are kept at a broker and mqtt_ingest
# refuses to start. Devices connect as username = their device_id, password = their
# device key, and publish to beeapi/devices/{device_id}/readings or .../data.json.
MQTT_URL = env_str("MQTT_URL", "")
# The dynamic-security admin (`mosquitto_ctrl dynsec init`): BeeAPI keeps the broker's
# clients in step with the device keys through it. The password may come from a file
# (MQTT_ADMIN_PASSWORD_FILE, a Docker secret).
MQTT_ADMIN_USERNAME = env_str("MQTT_ADMIN_USERNAME", "beeapi-admin")
MQTT_ADMIN_PASSWORD = env_str("MQTT_ADMIN_PASSWORD", "")
# How long a broker command may take (connect, then the answer) before the change that
# needs it is refused with 503.
MQTT_TIMEOUT_SECONDS = _env_seconds("MQTT_TIMEOUT_SECONDS", 5.0)
# The broker's address as devices reach it (mqtt:// or mqtts://host:port), which a hive's
# device status and console page show; default MQTT_URL (right where BeeAPI and the
# devices see the broker under the same name).
MQTT_PUBLIC_URL = env_str("MQTT_PUBLIC_URL", "")
if MQTT_URL:
    from urllib.parse import urlsplit

    _mqtt = urlsplit(MQTT_URL)
    if _mqtt.scheme != "mqtt" or not _mqtt.hostname or _mqtt.username or _mqtt.path.strip("/"):
        raise ImproperlyConfigured(
            "MQTT_URL must be mqtt://host[:port] (the admin login comes from "
            "MQTT_ADMIN_USERNAME and MQTT_ADMIN_PASSWORD)"
        )
    if not MQTT_ADMIN_PASSWORD:
        raise ImproperlyConfigured(
            "MQTT_ADMIN_PASSWORD (or MQTT_ADMIN_PASSWORD_FILE) must be set with MQTT_URL"
        )

# --- Alerts -----------------------------------------------------------------------------
# Off: stored readings are not evaluated and the worker raises nothing (for comparison
# in the benchmark; rules, alerts and deliveries stay readable).
ALERTS_ENABLED = env_bool("ALERTS_ENABLED", True)
# Readings older than this when they arrive are history: they open and resolve no alert.
ALERTS_LATE_MINUTES = env_int("ALERTS_LATE_MINUTES", 60)
# How often alerts_worker looks for silent sensors (it sends due deliveries every second).
ALERTS_WORKER_PERIOD_SECONDS = env_int("ALERTS_WORKER_PERIOD_SECONDS", 30)
# Inspection windows: their longest, and the margin after one during which weight
# changes still raise nothing (the colony settles, boxes are put back).
INSPECTION_MAX_MINUTES = env_int("INSPECTION_MAX_MINUTES", 240)
INSPECTION_SETTLE_MINUTES = env_int("INSPECTION_SETTLE_MINUTES", 10)
# A hive's harvest, box_added or box_removed event explains weight changes this long
# either side of its occurred_at (plus the settle margin after): a window as an
# inspection's, around a time a beekeeper types in after the fact.
WEIGHT_EVENT_MARGIN_MINUTES = env_int("WEIGHT_EVENT_MARGIN_MINUTES", 30)
# The net weight leaves out a change between two readings larger than this many kg
# within NET_WEIGHT_JUMP_MINUTES that no swarm alert or swarm event holds: a box, a
# harvest or a lifted frame nobody recorded (telemetry.selectors.net_weight_list).
NET_WEIGHT_MAX_JUMP_KG = env_float("NET_WEIGHT_MAX_JUMP_KG", 0.75)
NET_WEIGHT_JUMP_MINUTES = env_int("NET_WEIGHT_JUMP_MINUTES", 10)
# Around a weight event or in an inspection window, a change between two readings larger
# than this is the beekeeper's (left out of the net weight); smaller ones are the colony's.
NET_WEIGHT_EVENT_MIN_KG = env_float("NET_WEIGHT_EVENT_MIN_KG", 0.1)
# Webhooks to loopback, private, link-local or other internal addresses are refused
# unless this is true (a self-hosted receiver on the same network).
WEBHOOK_ALLOW_PRIVATE_NETWORKS = env_bool("WEBHOOK_ALLOW_PRIVATE_NETWORKS", False)
WEBHOOK_TIMEOUT_SECONDS = env_int("WEBHOOK_TIMEOUT_SECONDS", 5)

# A user's alert rules, at most (more are refused with 400).
ALERT_RULES_MAX_PER_USER = env_int("ALERT_RULES_MAX_PER_USER", 100)

# --- Email (alert notifications) --------------------------------------------------------
# The console backend prints mail to the worker's output (make run); set EMAIL_BACKEND to
# django.core.mail.backends.smtp.EmailBackend and EMAIL_HOST & co. in production.
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
# The worker sends mail while it holds its claimed deliveries: never wait forever.
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "BeeAPI <alerts@localhost>")
# Where links in mail point (https://bees.example.com, no trailing slash): registration's
# verification link is {PUBLIC_BASE_URL}/auth/verify?token=…, an alert email's link
# {PUBLIC_BASE_URL}/admin/alerts/alert/{id}/change/. Empty: the scheme and host of the
# request that sent the mail (behind a proxy, set it: the Host header is the client's);
# alert emails, sent by the worker outside any request, then give the path alone.
PUBLIC_BASE_URL = env_str("PUBLIC_BASE_URL", "").rstrip("/")
# A verification link works this long; POST /auth/verify/resend sends a new one.
EMAIL_VERIFICATION_HOURS = env_int("EMAIL_VERIFICATION_HOURS", 48)

# --- Production hardening (python manage.py check --deploy) -----------------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^health/?$"]  # load balancers probe over plain HTTP
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# --- Logging ----------------------------------------------------------------------------
LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "beeapi": {"level": LOG_LEVEL},
        "accounts": {"level": LOG_LEVEL},
        "apiary": {"level": LOG_LEVEL},
        "telemetry": {"level": LOG_LEVEL},
        "alerts": {"level": LOG_LEVEL},
        "sensors": {"level": LOG_LEVEL},
    },
}
