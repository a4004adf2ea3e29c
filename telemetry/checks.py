"""System checks of the telemetry settings (run by every manage.py command and `check`)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, register

from telemetry.timescale import retention_problem


@register()
def telemetry_settings_check(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    errors: list[Error] = []
    problem = retention_problem(settings.TELEMETRY_RETENTION_DAYS)
    if problem:
        errors.append(
            Error(
                problem,
                hint="Raise TELEMETRY_RETENTION_DAYS; dropping raw data inside the hourly "
                "aggregate's refresh window would erase hourly history.",
                id="telemetry.E001",
            )
        )
    if settings.TELEMETRY_COMPRESS_AFTER_DAYS < 1:
        errors.append(
            Error("TELEMETRY_COMPRESS_AFTER_DAYS must be at least 1.", id="telemetry.E002")
        )
    if not 1 <= settings.TELEMETRY_MAX_BATCH <= 50_000:
        errors.append(
            Error("TELEMETRY_MAX_BATCH must be between 1 and 50000.", id="telemetry.E003")
        )
    return errors
