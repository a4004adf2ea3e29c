"""Live telemetry: the channel-layer side of ``WS /ws/hive/{id}/telemetry``.

The ingestion service calls :func:`publish_readings` once per batch per device, after the
telemetry transaction commits, with only the readings that were actually new.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def device_group(device_id: str) -> str:
    """Channel-layer group of one device (group names allow [A-Za-z0-9._-] only)."""
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in device_id)
    return f"device.{safe}"[:99]


def publish_readings(device_id: str, readings: Sequence[dict[str, Any]]) -> None:
    """Send one message with ``readings`` (oldest first) to the device's subscribers."""
    # Implemented by the live-telemetry work (issue 5); a no-op until then.
    return None
