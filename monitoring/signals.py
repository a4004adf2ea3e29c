"""The live streams' side of other apps' signals: new readings are published to the
sockets watching their device, and sockets lose a hive the apiary says they lost."""

from __future__ import annotations

import logging
from typing import Any

from django.dispatch import receiver

from apiary.notices import hive_access_changed, member_access_revoked
from monitoring import live
from telemetry.signals import readings_stored
from telemetry.validation import messages

logger = logging.getLogger("telemetry.live")


@receiver(readings_stored, dispatch_uid="monitoring_publish")
def _publish(sender: Any, batches: Any, **kwargs: Any) -> None:
    # The readings are stored; a failing live stream must not turn that into an error.
    try:
        live.publish_readings_many(
            [(device_id, messages(readings)) for device_id, readings in batches]
        )
    except Exception:  # noqa: BLE001
        logger.exception("publishing the live readings of %d device(s) failed", len(batches))


@receiver(hive_access_changed, dispatch_uid="monitoring_hive_access")
def _hive_access_changed(sender: Any, hive_id: int, **kwargs: Any) -> None:
    live.hive_streams_close(hive_id=hive_id)


@receiver(member_access_revoked, dispatch_uid="monitoring_member_access")
def _member_access_revoked(sender: Any, apiary_id: int, user_id: int, **kwargs: Any) -> None:
    live.access_revoked(apiary_id=apiary_id, user_id=user_id)
