"""Settings for checks that need no database (``make lint``: ``makemigrations --check``).

The real settings (run with DEBUG=true, so they need no URL or secret) with every alias on
Django's dummy backend: makemigrations then skips its migration-history check instead of
trying to connect, and nothing reaches a server. Not for running the app.
"""

from beeapi.settings import *  # noqa: F403
from beeapi.settings import DATABASES as _REAL_DATABASES

DATABASES = {alias: {"ENGINE": "django.db.backends.dummy"} for alias in _REAL_DATABASES}
