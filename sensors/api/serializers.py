"""Shapes of the sensors API: input serializers (strict) and, for the schema, answers."""

from __future__ import annotations

from rest_framework import serializers

from core.strict import StrictFieldsMixin
from sensors.models import Integration


class SensorIngestResultSerializer(serializers.Serializer):
    accepted = serializers.IntegerField(help_text="Readings stored by this request.")
    duplicates = serializers.IntegerField(help_text="Readings already stored (re-sent).")
    unmapped = serializers.ListField(
        child=serializers.CharField(),
        help_text="Payload keys no field map names (not stored, not an error).",
    )


class ThingSpeakEntrySerializer(serializers.Serializer):
    channel_id = serializers.IntegerField(help_text="The hive's id.")
    created_at = serializers.DateTimeField()
    entry_id = serializers.IntegerField(help_text="Counts the hive's updates from 1.")
    field1 = serializers.CharField(allow_null=True)
    field2 = serializers.CharField(allow_null=True)
    field3 = serializers.CharField(allow_null=True)
    field4 = serializers.CharField(allow_null=True)
    field5 = serializers.CharField(allow_null=True)
    field6 = serializers.CharField(allow_null=True)
    field7 = serializers.CharField(allow_null=True)
    field8 = serializers.CharField(allow_null=True)
    latitude = serializers.CharField(allow_null=True)
    longitude = serializers.CharField(allow_null=True)
    elevation = serializers.CharField(allow_null=True)
    status = serializers.CharField(allow_null=True)


class IntegrationSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    class Meta:
        model = Integration
        fields = ["id", "kind", "name", "created_at", "last_used_at"]
        read_only_fields = ["id", "created_at", "last_used_at"]


class IntegrationKeySerializer(serializers.ModelSerializer):
    key = serializers.CharField(
        help_text="Send as `Authorization: Bearer <key>` from the TTN webhook; shown once."
    )

    class Meta:
        model = Integration
        fields = ["id", "kind", "name", "key", "created_at"]


class DevicePatchSerializer(StrictFieldsMixin, serializers.Serializer):
    field_map = serializers.JSONField(
        required=False,
        allow_null=True,
        help_text='{"payload key": {"metric": ..., "unit": ...}} overriding the default '
        "maps (a metric name alone: its own unit; null for a key: drop it); null: defaults.",
    )
    dev_eui = serializers.CharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        max_length=32,
        help_text="LoRaWAN DevEUI, 16 hex digits; null or empty: none.",
    )


class FieldTargetSerializer(serializers.Serializer):
    metric = serializers.CharField()
    unit = serializers.CharField()


class DeviceStatusSerializer(serializers.Serializer):
    hive = serializers.IntegerField()
    device_id = serializers.CharField()
    dev_eui = serializers.CharField(allow_null=True)
    last_adapter = serializers.CharField(allow_null=True)
    last_seen_at = serializers.DateTimeField(allow_null=True)
    last_payload = serializers.CharField(allow_null=True, help_text="Credentials removed.")
    last_mapped = serializers.ListField(child=serializers.CharField())
    last_unmapped = serializers.ListField(child=serializers.CharField())
    last_error = serializers.JSONField(allow_null=True)
    last_error_at = serializers.DateTimeField(allow_null=True)
    field_map = serializers.JSONField(allow_null=True, help_text="The hive's own overrides.")
    field_maps = serializers.DictField(
        child=serializers.DictField(child=FieldTargetSerializer()),
        help_text="The map in force per adapter: its default with the hive's overrides.",
    )
    connect = serializers.JSONField(help_text="URLs, MQTT topics and credentials per adapter.")
