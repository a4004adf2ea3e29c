"""Settings for the test suite: the real settings plus a fast password hasher."""

import os

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-for-production-use-0123456789")

from beeapi.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
SECURE_SSL_REDIRECT = False
# Throttling is exercised by its own tests with a low rate (a server process started by a
# test gets one with AUTH_THROTTLE_RATE); other tests log in freely.
REST_FRAMEWORK = {  # noqa: F405
    **REST_FRAMEWORK,  # noqa: F405
    "DEFAULT_THROTTLE_RATES": {"auth": os.environ.get("AUTH_THROTTLE_RATE", "1000/min")},
}
# The sign-in lockout likewise (tests/accounts/test_lockout.py turns it on). Off, axes'
# backend also lets Client.login() authenticate without a request.
AXES_ENABLED = False
# Tests serve static files straight from the apps, as in development.
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
# The suite imports beeapi.asgi; freezing and re-tuning the collector is for server
# processes (tests/foundation/test_gc_tuning.py tunes and restores it explicitly).
SERVER_GC_GEN0 = 0
# The suite runs without MQTT: the tests that need the broker turn it on with their own
# settings (tests/sensors/conftest.py), against the broker `make test` starts
# (BEEAPI_TEST_MQTT_URL) or one a test starts and stops itself.
MQTT_URL = ""
