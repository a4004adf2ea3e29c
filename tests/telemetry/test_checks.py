"""Retention must outlast the hourly aggregate's refresh window."""

from __future__ import annotations

from django.test import override_settings

from telemetry.checks import telemetry_settings_check
from telemetry.timescale import HOURLY_REFRESH_START_OFFSET_DAYS


def ids() -> list[str]:
    return [error.id for error in telemetry_settings_check()]


def test_default_settings_pass() -> None:
    assert ids() == []


def test_retention_inside_the_refresh_window_plus_margin_is_an_error() -> None:
    with override_settings(TELEMETRY_RETENTION_DAYS=HOURLY_REFRESH_START_OFFSET_DAYS + 1):
        assert ids() == ["telemetry.E001"]
    with override_settings(TELEMETRY_RETENTION_DAYS=30):
        assert ids() == []


def test_compression_and_batch_limits_are_checked() -> None:
    with override_settings(TELEMETRY_COMPRESS_AFTER_DAYS=0, TELEMETRY_MAX_BATCH=0):
        assert ids() == ["telemetry.E002", "telemetry.E003"]
