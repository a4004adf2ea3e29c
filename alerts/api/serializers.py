"""API shapes of rules, alerts, inspections, webhooks and delivery settings."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from alerts.live import alert_payload
from alerts.models import Alert, AlertRule, Delivery, Inspection, Webhook
from apiary import selectors as apiary_selectors
from core.api import VisibleRelatedField
from core.strict import StrictFieldsMixin
from telemetry.validation import METRICS

PARAMS_HELP = (
    "Per kind, defaults filled in: swarm {drop_kg (1.5), window_minutes (30)}; "
    "brood_temperature {min (32), max (36.5) °C, for_minutes (30)}; no_data {minutes (60)}; "
    f"threshold {{metric ({'|'.join(METRICS)}), above and/or below, "
    "for_minutes (10)}; low_battery {below (3.4) V, for_minutes (30)}; "
    "weak_signal {rssi_below (-115) dBm and/or snr_below (-10) dB, for_minutes (60)}."
)


class AlertRuleSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    hive = VisibleRelatedField(
        apiary_selectors.hive_list_visible,
        allow_null=True,
        required=False,
        help_text="The one hive this rule watches.",
    )
    apiary = VisibleRelatedField(
        apiary_selectors.apiary_list,
        allow_null=True,
        required=False,
        help_text="Every hive of this apiary. Neither hive nor apiary: every hive of "
        "the apiaries you own.",
    )
    scope = serializers.ChoiceField(["hive", "apiary", "account"], read_only=True)
    params = serializers.JSONField(required=False, help_text=PARAMS_HELP)

    class Meta:
        model = AlertRule
        fields = [
            "id",
            "kind",
            "hive",
            "apiary",
            "scope",
            "params",
            "enabled",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "scope", "created_at", "updated_at"]


class AlertRuleUpdateSerializer(StrictFieldsMixin, serializers.Serializer):
    params = serializers.JSONField(
        required=False, help_text="Merged over the rule's current params. " + PARAMS_HELP
    )
    enabled = serializers.BooleanField(required=False)


class AlertSerializer(serializers.ModelSerializer):
    hive_name = serializers.CharField(source="hive.name", read_only=True)

    class Meta:
        model = Alert
        fields = [
            "id",
            "hive",
            "hive_name",
            "rule",
            "kind",
            "status",
            "started_at",
            "resolved_at",
            "acknowledged_at",
            "message",
            "values",
        ]
        read_only_fields = fields

    def to_representation(self, instance: Alert) -> dict[str, Any]:
        return alert_payload(instance)  # one shape for the API, streams and webhooks


class InspectionStartSerializer(StrictFieldsMixin, serializers.Serializer):
    minutes = serializers.IntegerField(
        min_value=1, max_value=240, default=60, help_text="Length of the window (1-240)."
    )


class InspectionSerializer(serializers.ModelSerializer):
    settle_until = serializers.DateTimeField(
        read_only=True, help_text="Weight alerts stay paused until then."
    )

    class Meta:
        model = Inspection
        fields = ["id", "hive", "started_at", "ends_at", "settle_until", "event"]
        read_only_fields = fields


class WebhookSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    url = serializers.URLField(
        max_length=500,
        help_text="http(s) URL of a public host; each alert is POSTed as JSON signed "
        'with X-BeeAPI-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>" '
        "with the secret>; refuse a t more than 300 s from now.",
    )

    class Meta:
        model = Webhook
        fields = ["id", "url", "description", "created_at"]
        read_only_fields = ["id", "created_at"]


class WebhookCreatedSerializer(WebhookSerializer):
    secret = serializers.CharField(
        read_only=True, help_text="Shown once: keep it to check the signatures."
    )

    class Meta(WebhookSerializer.Meta):
        fields = [*WebhookSerializer.Meta.fields, "secret"]


class DeliveryAttemptSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    status = serializers.IntegerField(allow_null=True, help_text="HTTP status, if any.")
    error = serializers.CharField(allow_blank=True)
    ms = serializers.IntegerField()


class DeliverySerializer(serializers.ModelSerializer):
    log = DeliveryAttemptSerializer(many=True, read_only=True)

    class Meta:
        model = Delivery
        fields = [
            "id",
            "alert",
            "state",
            "attempts",
            "last_attempt_at",
            "next_attempt_at",
            "log",
            "created_at",
        ]
        read_only_fields = fields


class AlertSettingsSerializer(StrictFieldsMixin, serializers.Serializer):
    email = serializers.BooleanField(help_text="Send each new alert to your email address.")
