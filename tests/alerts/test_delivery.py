"""Webhooks and email, sent by the worker's delivery loop (alerts.delivery)."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from django.core import mail
from django.utils import timezone

from alerts import services
from alerts.delivery import MAX_ATTEMPTS, RETRY_DELAYS, deliveries_send
from alerts.models import Delivery, Webhook
from tests.alerts.conftest import FLOW, Receiver, silent_sensor_alert
from tests.factories import HiveFactory


@pytest.fixture
def private_ok(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    return settings


def payload_delivery(body: bytes) -> int:
    return json.loads(body)["delivery"]


def webhook_for(user, url):
    return services.webhook_create(actor=user, url=url, description="test")


@FLOW
def test_an_alert_is_posted_signed_and_listed_in_deliveries(
    hive, alice, receiver, private_ok, as_alice
):
    webhook = webhook_for(alice, receiver.url)
    alert = silent_sensor_alert("scale-3")
    assert receiver.received == []  # the ingesting request sends nothing

    assert deliveries_send() >= 1
    [(headers, body)] = receiver.received
    # t=<send time>,v1=<HMAC of "<t>.<body>">; tests/alerts/test_webhook_security.py
    # checks it with the README's receiver code.
    t = headers["X-BeeAPI-Signature"].split(",")[0].removeprefix("t=")
    signed = f"{t}.".encode() + body
    expected = hmac.new(webhook.secret.encode(), signed, hashlib.sha256).hexdigest()
    assert headers["X-BeeAPI-Signature"] == f"t={t},v1={expected}"
    assert headers["X-BeeAPI-Delivery"] == str(payload_delivery(body))
    assert headers["Content-Type"] == "application/json"
    payload = json.loads(body)
    assert payload["type"] == "alert"
    assert payload["alert"]["id"] == alert.pk and payload["alert"]["kind"] == "no_data"

    deliveries = as_alice.get(f"/webhooks/{webhook.pk}/deliveries").json()["results"]
    assert [(d["alert"], d["state"], d["attempts"]) for d in deliveries] == [
        (alert.pk, "delivered", 1)
    ]
    assert deliveries[0]["log"][0]["status"] == 200
    assert deliveries_send() == 0  # nothing sent twice


@FLOW
def test_a_failing_receiver_is_retried_with_back_off_then_given_up(hive, alice, private_ok):
    receiver = Receiver(statuses=(500,))
    try:
        webhook_for(alice, receiver.url)
        silent_sensor_alert("scale-3")
        delivery = Delivery.objects.get(channel="webhook")
        waits = []
        for attempt in range(1, MAX_ATTEMPTS + 1):
            Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
            before = timezone.now()
            deliveries_send()
            delivery.refresh_from_db()
            assert delivery.attempts == attempt
            if delivery.next_attempt_at:
                waits.append(delivery.next_attempt_at - before)
                assert deliveries_send() == 0  # not due yet
        assert delivery.state == Delivery.State.FAILED
        assert len(receiver.received) == MAX_ATTEMPTS >= 5
        assert [entry["status"] for entry in delivery.log] == [500] * MAX_ATTEMPTS
        # At least 10 minutes between the first and the last attempt.
        assert sum(RETRY_DELAYS) >= 600
        assert [round(w.total_seconds()) for w in waits] == list(RETRY_DELAYS)
    finally:
        receiver.close()


@FLOW
def test_a_receiver_that_recovers_gets_the_alert_on_the_next_attempt(hive, alice, private_ok):
    receiver = Receiver(statuses=(503, 200))
    try:
        webhook_for(alice, receiver.url)
        silent_sensor_alert("scale-3")
        deliveries_send()
        delivery = Delivery.objects.get(channel="webhook")
        assert delivery.state == Delivery.State.PENDING and delivery.attempts == 1
        Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
        deliveries_send()
        delivery.refresh_from_db()
        assert delivery.state == Delivery.State.DELIVERED and delivery.attempts == 2
        assert len(receiver.received) == 2
    finally:
        receiver.close()


@FLOW
def test_an_internal_target_is_refused_at_send_time_too(hive, alice, receiver, settings):
    # Created while private networks were allowed (or a name that resolved publicly then).
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    webhook_for(alice, receiver.url)
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    silent_sensor_alert("scale-3")
    deliveries_send()
    delivery = Delivery.objects.get(channel="webhook")
    assert delivery.state == Delivery.State.FAILED and delivery.attempts == 1
    assert delivery.log[0]["error"].startswith("refused: ")
    assert "internal address (127.0.0.1)" in delivery.log[0]["error"]
    assert receiver.received == []


@pytest.mark.django_db
def test_a_webhook_to_127_0_0_1_is_refused_by_default(alice):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as refused:
        webhook_for(alice, "http://127.0.0.1:8080/hook")
    assert "internal address" in str(refused.value)
    assert not Webhook.objects.exists()


@FLOW
def test_alerts_are_emailed_unless_switched_off(hive, alice, bob):
    alert = silent_sensor_alert("scale-3")
    deliveries_send()
    [message] = mail.outbox
    assert message.to == [alice.email]
    assert alert.message in message.subject
    assert "scale-3" in message.body

    services.settings_update(actor=alice, email=False)
    mail.outbox.clear()
    other = HiveFactory(apiary=hive.apiary, device_id="scale-4")
    silent_sensor_alert(other.device_id)
    deliveries_send()
    assert mail.outbox == []
    assert not Delivery.objects.filter(channel="email", alert__hive=other).exists()
