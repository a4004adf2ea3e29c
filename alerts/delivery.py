"""The worker's side of delivery: due webhook POSTs and emails, retried with back-off.

Deliveries are claimed with SELECT ... FOR UPDATE SKIP LOCKED, so several workers share
the queue without sending anything twice. A failed attempt is retried after
RETRY_DELAYS (30 s, 1, 2, 5 and 10 min: 6 attempts over 18.5 minutes); a target refused
as internal is not retried.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from alerts import webhooks
from alerts.emails import alert_email
from alerts.live import alert_payload
from alerts.models import Delivery
from core.times import iso_time

logger = logging.getLogger("alerts")

RETRY_DELAYS = (30, 60, 120, 300, 600)  # seconds after attempts 1..5
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
BATCH = 10


def webhook_body(delivery: Delivery) -> bytes:
    payload = {"type": "alert", "delivery": delivery.pk, "alert": alert_payload(delivery.alert)}
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def _email(delivery: Delivery) -> tuple[bool, str]:
    alert = delivery.alert
    subject, body = alert_email(alert)
    try:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [alert.user.email])
    except Exception as exc:  # noqa: BLE001 - any mail failure is retried
        return False, f"{type(exc).__name__}: {exc}"
    return True, ""


def _attempt(delivery: Delivery) -> None:
    now = timezone.now()
    entry: dict[str, Any] = {"at": iso_time(now)}
    retry = True
    if delivery.channel == Delivery.Channel.WEBHOOK:
        webhook = delivery.webhook
        assert webhook is not None  # the delivery_channel_target constraint
        result = webhooks.send(
            webhook.url,
            webhook.secret,
            webhook_body(delivery),
            headers={"X-BeeAPI-Delivery": str(delivery.pk)},
        )
        entry.update(status=result.status, error=result.error, ms=result.ms)
        ok = result.ok
        retry = not result.error.startswith("refused:")
    else:
        ok, error = _email(delivery)
        entry.update(status=None, error=error, ms=0)
    delivery.attempts += 1
    delivery.last_attempt_at = now
    delivery.log = [*delivery.log, entry]
    if ok:
        delivery.state, delivery.next_attempt_at = Delivery.State.DELIVERED, None
    elif retry and delivery.attempts < MAX_ATTEMPTS:
        delivery.next_attempt_at = now + timedelta(seconds=RETRY_DELAYS[delivery.attempts - 1])
    else:
        delivery.state, delivery.next_attempt_at = Delivery.State.FAILED, None
        logger.warning("delivery %s of alert %s failed: %s", delivery.pk, delivery.alert_id, entry)
    delivery.save(update_fields=["attempts", "last_attempt_at", "log", "state", "next_attempt_at"])


def deliveries_send(*, limit: int = BATCH) -> int:
    """Attempt up to ``limit`` due deliveries; returns how many were attempted."""
    with transaction.atomic():
        due = list(
            Delivery.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(state=Delivery.State.PENDING, next_attempt_at__lte=timezone.now())
            .select_related("alert__hive", "alert__user", "webhook")
            .order_by("next_attempt_at", "id")[:limit]
        )
        for delivery in due:
            _attempt(delivery)
    return len(due)
