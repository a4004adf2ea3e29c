"""The database aliases (beeapi/settings.py DATABASES, routed by beeapi/db_router.py):
entities in ``default``, readings in ``telemetry``."""

DEFAULT_DB = "default"
TELEMETRY_DB = "telemetry"
