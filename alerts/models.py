"""Alert rules, their evaluation state, alerts, inspection windows and deliveries.

All on the ``default`` (PostgreSQL) database. A rule belongs to one user and applies to
one hive, one apiary, or (neither set) every hive of the apiaries the user owns. Alerts
belong to the rule's user: nobody else sees them.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q

from apiary.models import Apiary, Event, Hive
from core.times import local_text


class Kind(models.TextChoices):
    SWARM = "swarm", "Swarm (sudden weight loss)"
    BROOD_TEMPERATURE = "brood_temperature", "Brood temperature out of range"
    NO_DATA = "no_data", "No data from the sensor"
    THRESHOLD = "threshold", "Threshold on a metric"
    LOW_BATTERY = "low_battery", "Low battery on the sensor"
    WEAK_SIGNAL = "weak_signal", "Weak radio signal from the sensor"


class AlertRule(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="alert_rules"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    hive = models.ForeignKey(
        Hive, on_delete=models.CASCADE, null=True, blank=True, related_name="alert_rules"
    )
    apiary = models.ForeignKey(
        Apiary, on_delete=models.CASCADE, null=True, blank=True, related_name="alert_rules"
    )
    # Per kind, validated by alerts.rules (defaults filled in): the thresholds.
    params = models.JSONField(default=dict, blank=True)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "alert_rules"
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(hive__isnull=True) | Q(apiary__isnull=True),
                name="alert_rule_one_scope",
                violation_error_message="A rule applies to one hive or one apiary, not both.",
            ),
        ]
        indexes = [models.Index(fields=["user", "kind"], name="alert_rule_user_kind_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.scope_label})"

    @property
    def scope(self) -> str:
        return "hive" if self.hive_id else "apiary" if self.apiary_id else "account"

    @property
    def scope_label(self) -> str:
        if self.hive_id:
            return f"hive {self.hive_id}"
        if self.apiary_id:
            return f"apiary {self.apiary_id}"
        return "all my hives"


class Status(models.TextChoices):
    OPEN = "open", "Open"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    RESOLVED = "resolved", "Resolved"


class Alert(models.Model):
    """One occurrence of a rule's condition on a hive.

    Active while ``resolved_at`` is empty: at most one active alert per rule and hive (a
    partial unique index, which also keeps two workers from raising it twice).
    Acknowledging a swarm alert ends it; other kinds stay active, acknowledged, until
    their condition clears.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="alerts"
    )
    rule = models.ForeignKey(
        AlertRule, on_delete=models.SET_NULL, null=True, blank=True, related_name="alerts"
    )
    hive = models.ForeignKey(Hive, on_delete=models.CASCADE, related_name="alerts")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    status = models.CharField(max_length=15, choices=Status.choices, default=Status.OPEN)
    started_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    message = models.CharField(max_length=300)
    values = models.JSONField(default=dict, blank=True)
    event = models.ForeignKey(
        Event, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "alerts"
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "hive"],
                condition=Q(resolved_at__isnull=True),
                name="one_active_alert_per_rule_and_hive",
                violation_error_message="This rule already has an active alert on this hive.",
            ),
        ]
        indexes = [
            models.Index(fields=["user", "-started_at"], name="alert_user_started_idx"),
            models.Index(fields=["hive", "-started_at"], name="alert_hive_started_idx"),
        ]

    def __str__(self) -> str:
        return self.message


class AlertState(models.Model):
    """What the evaluation of one rule on one hive remembers between batches."""

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="states")
    hive = models.ForeignKey(Hive, on_delete=models.CASCADE, related_name="+")
    # The newest reading evaluated; older ones arriving later are history.
    last_time = models.DateTimeField(null=True, blank=True)
    data = models.JSONField(default=dict, blank=True)
    active_alert = models.ForeignKey(
        Alert, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        db_table = "alert_states"
        constraints = [
            models.UniqueConstraint(fields=["rule", "hive"], name="one_state_per_rule_and_hive")
        ]

    def __str__(self) -> str:
        return f"state of rule {self.rule_id} on hive {self.hive_id}"


class Inspection(models.Model):
    """A window in which the hive is open: weight changes raise no alert."""

    hive = models.ForeignKey(Hive, on_delete=models.CASCADE, related_name="inspections")
    started_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    event = models.ForeignKey(
        Event, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        db_table = "inspections"
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["hive", "-ends_at"], name="inspection_hive_ends_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gte=models.F("started_at")),
                name="inspection_ends_after_start",
                violation_error_message="An inspection cannot end before it starts.",
            ),
        ]

    def __str__(self) -> str:
        return f"Inspection of {self.hive} from {local_text(self.started_at)}"

    @property
    def settle_until(self) -> datetime:
        return self.ends_at + timedelta(minutes=settings.INSPECTION_SETTLE_MINUTES)


class AlertSettings(models.Model):
    """A user's delivery preferences."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="alert_settings"
    )
    email = models.BooleanField(default=True, help_text="Send each new alert by email.")

    class Meta:
        db_table = "alert_settings"
        verbose_name_plural = "alert settings"

    def __str__(self) -> str:
        return f"alert settings of {self.user}"


class Webhook(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhooks"
    )
    url = models.URLField(max_length=500)
    # Shared with the receiver to check X-BeeAPI-Signature; shown when created.
    secret = models.CharField(max_length=64, editable=False)
    description = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "webhooks"
        ordering = ["id"]

    def __str__(self) -> str:
        return self.url


class Delivery(models.Model):
    """An alert on its way to a webhook or a mailbox, retried by the worker."""

    class Channel(models.TextChoices):
        WEBHOOK = "webhook", "Webhook"
        EMAIL = "email", "Email"

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.CharField(max_length=10, choices=Channel.choices)
    webhook = models.ForeignKey(
        Webhook, on_delete=models.CASCADE, null=True, blank=True, related_name="deliveries"
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    # Each attempt: {"at", "status" (HTTP status or null), "error", "ms"}.
    log = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "alert_deliveries"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(state="pending"),
                name="delivery_due_idx",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(channel="email", webhook__isnull=True)
                | Q(channel="webhook", webhook__isnull=False),
                name="delivery_channel_target",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel} delivery of alert {self.alert_id} ({self.state})"
