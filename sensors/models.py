"""What BeeAPI knows of a hive's sensor: its field map, its LoRaWAN DevEUI and what it
last sent (SensorLink), and the user's integrations with networks such as The Things
Network (Integration: a key the network's webhook sends)."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models.functions import Upper

from apiary.models import Hive

DEV_EUI_PATTERN = r"^[0-9A-F]{16}$"
PAYLOAD_MAX_CHARS = 2000


class SensorLink(models.Model):
    """One hive's sensor: how its payloads map to metrics and what arrived last."""

    hive = models.OneToOneField(
        Hive, on_delete=models.CASCADE, primary_key=True, related_name="sensor_link"
    )
    # null: the adapter's default map; a map overrides keys of the default for any adapter.
    field_map = models.JSONField(null=True, blank=True)
    # NULL, not "", for no DevEUI: the unique constraint holds among those that are set.
    dev_eui = models.CharField(  # noqa: DJ001
        max_length=16,
        null=True,
        blank=True,
        validators=[RegexValidator(DEV_EUI_PATTERN, "16 hexadecimal characters.")],
        help_text="LoRaWAN DevEUI (16 hex digits, upper-case); TTN uplinks find the hive by it.",
    )
    last_adapter = models.CharField(max_length=20, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    last_payload = models.TextField(blank=True)  # credentials removed, at most 2000 chars
    last_mapped = models.JSONField(default=list, blank=True)
    last_unmapped = models.JSONField(default=list, blank=True)
    last_error = models.JSONField(null=True, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    # ThingSpeak's entry_id: one more for every update the hive's device made.
    entry_count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["dev_eui"],
                condition=models.Q(dev_eui__isnull=False),
                name="sensors_sensorlink_dev_eui_unique",
                violation_error_message="This DevEUI is in use.",
            ),
            models.CheckConstraint(
                condition=models.Q(dev_eui__isnull=True) | models.Q(dev_eui=Upper("dev_eui")),
                name="sensors_sensorlink_dev_eui_upper",
            ),
        ]

    def __str__(self) -> str:
        return f"Sensor of hive {self.hive_id}"


class Integration(models.Model):
    """A network's webhook into BeeAPI, acting for its owner: only a hash of its key is
    stored (the key is shown once)."""

    class Kind(models.TextChoices):
        TTN = "ttn", "The Things Network (v3)"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="integrations"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    name = models.CharField(max_length=100, blank=True)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name or f"{self.get_kind_display()} #{self.pk}"
