"""Hooks: every new user gets the default rules; every stored batch is evaluated."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db.models.signals import post_save
from django.dispatch import receiver

from telemetry.signals import readings_stored

logger = logging.getLogger("alerts")


@receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="alerts_default_rules")
def _default_rules(
    sender: Any, instance: Any, created: bool, raw: bool = False, **kwargs: Any
) -> None:
    if created and not raw:
        from alerts.services import default_rules_create

        default_rules_create(user=instance)


@receiver(readings_stored, dispatch_uid="alerts_evaluate")
def _evaluate(sender: Any, batches: Any, now: Any = None, **kwargs: Any) -> None:
    from alerts.services import readings_evaluate_many

    # The readings are committed: an alert failure is logged, never the ingest's error.
    try:
        readings_evaluate_many(batches=batches, now=now)
    except Exception:  # noqa: BLE001
        logger.exception(
            "evaluating alerts for the readings of %d device(s) failed (%s)",
            len(batches),
            ", ".join(device_id for device_id, _ in batches[:5]),
        )
