"""Hooks: every new user gets the default rules; every stored batch is evaluated."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db.models.signals import post_save
from django.dispatch import receiver

from telemetry.selectors import Explanations
from telemetry.signals import calibration_changed, readings_stored, weight_explanations

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


@receiver(calibration_changed, dispatch_uid="alerts_calibration_changed")
def _calibration_changed(sender: Any, device_id: str, metric: str, **kwargs: Any) -> None:
    """Values from a calibration on are not comparable with those before (a tare takes
    the weight to 0): the rules of the device's hive that remember ``metric`` values start
    again from its next readings instead of reading the step as a swarm."""
    from alerts.services import states_forget

    states_forget(device_id=device_id, metric=metric)


@receiver(weight_explanations, dispatch_uid="alerts_weight_explanations")
def _weight_explanations(
    sender: Any, device_id: str, start: Any, end: Any, **kwargs: Any
) -> Explanations:
    """Inspection windows explain weight changes; a swarm alert's loss is kept."""
    from alerts.selectors import weight_alert_windows

    return weight_alert_windows(device_id=device_id, start=start, end=end)
