"""Beekeeping entities on the ``default`` (PostgreSQL) database.

Table names are the v2 design's: apiaries, hives, queen_bees, events.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from core.validators import validate_event_time, validate_past_date

# A sensor's device_id: it names the device's readings, its MQTT client and topics.
DEVICE_ID_FORMAT = (
    "Use 1-64 letters, digits, '.', '_', ':' or '-', starting with a letter or digit."
)
_device_id_format = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}\Z", DEVICE_ID_FORMAT, code="invalid_device_id"
)


def validate_device_id(value: str) -> None:
    """The device_id format (migrations refer to this function, so the rule lives here)."""
    _device_id_format(value)


# A queen lives a few years; a year of birth outside this range is a typo.
QUEEN_YEAR_MIN, QUEEN_YEAR_MAX = 1950, 2100


class Apiary(models.Model):
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="apiaries"
    )
    name = models.CharField(max_length=120)
    latitude = models.DecimalField(
        max_digits=9,
        decimal_places=6,
        null=True,
        blank=True,
        validators=[MinValueValidator(-90), MaxValueValidator(90)],
    )
    longitude = models.DecimalField(
        max_digits=9,
        decimal_places=6,
        null=True,
        blank=True,
        validators=[MinValueValidator(-180), MaxValueValidator(180)],
    )
    address = models.CharField(max_length=255, blank=True)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "apiaries"
        ordering = ["name", "id"]
        verbose_name_plural = "apiaries"
        constraints = [
            models.CheckConstraint(
                condition=Q(latitude__isnull=True) | Q(latitude__gte=-90, latitude__lte=90),
                name="apiary_latitude_range",
                violation_error_message="Latitude must be between -90 and 90.",
            ),
            models.CheckConstraint(
                condition=Q(longitude__isnull=True) | Q(longitude__gte=-180, longitude__lte=180),
                name="apiary_longitude_range",
                violation_error_message="Longitude must be between -180 and 180.",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    """What a user may do in an apiary. Each role includes the ones below it."""

    VIEWER = "viewer", "Viewer"  # read everything, follow live streams
    EDITOR = "editor", "Editor"  # also record: hives, queens, events, readings
    OWNER = "owner", "Owner"  # also members, device keys, deleting the apiary and hives


ROLE_RANK = {Role.VIEWER: 1, Role.EDITOR: 2, Role.OWNER: 3}


class Membership(models.Model):
    """A user's role in someone else's apiary, or an invitation of an email address.

    The owner is ``Apiary.owner`` and has no membership. An invitation (``user`` empty)
    becomes a membership when an account with that email is registered.
    """

    apiary = models.ForeignKey(Apiary, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="memberships",
    )
    email = models.EmailField(help_text="The invited address (normalised).")
    role = models.CharField(
        max_length=10, choices=[(r.value, r.label) for r in (Role.VIEWER, Role.EDITOR)]
    )
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "apiary_members"
        ordering = ["apiary_id", "email", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["apiary", "email"],
                name="one_membership_per_email",
                violation_error_message="This address is already a member or invited.",
            ),
            models.UniqueConstraint(
                fields=["apiary", "user"],
                condition=Q(user__isnull=False),
                name="one_membership_per_user",
                violation_error_message="This user is already a member.",
            ),
            models.CheckConstraint(
                condition=Q(role__in=["viewer", "editor"]),
                name="membership_role_valid",
                violation_error_message="A member is a viewer or an editor.",
            ),
        ]
        indexes = [models.Index(fields=["user", "apiary"], name="membership_user_apiary_idx")]

    def __str__(self) -> str:
        return f"{self.email} ({self.role})"


class Hive(models.Model):
    class HiveType(models.TextChoices):
        LANGSTROTH = "langstroth", "Langstroth"
        DADANT = "dadant", "Dadant"
        NATIONAL = "national", "British National"
        WARRE = "warre", "Warré"
        TOP_BAR = "top_bar", "Top bar"
        ZANDER = "zander", "Zander"
        OTHER = "other", "Other"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        NUCLEUS = "nucleus", "Nucleus"
        QUEENLESS = "queenless", "Queenless"
        DEAD = "dead", "Dead"
        SOLD = "sold", "Sold"
        MERGED = "merged", "Merged"
        LOST = "lost", "Lost (absconded)"

    apiary = models.ForeignKey(Apiary, on_delete=models.CASCADE, related_name="hives")
    name = models.CharField(max_length=120)
    device_id = models.CharField(
        max_length=64,
        unique=True,
        validators=[validate_device_id],
        help_text="Sensor device identifier, unique across BeeAPI; links the hive to its telemetry.",
    )
    hive_type = models.CharField(
        max_length=20, choices=HiveType.choices, default=HiveType.LANGSTROTH
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    installed_at = models.DateField(null=True, blank=True, validators=[validate_past_date])
    notes = models.TextField(blank=True)
    # Only a hash of the device key is stored; the key itself is shown once.
    device_key_hash = models.CharField(max_length=128, blank=True, editable=False)
    # The apiary's owner when the current key was issued (created or replaced): after a
    # handover, a key issued under the previous owner is one they may still know. Null
    # when that account is gone.
    device_key_issued_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "hives"
        ordering = ["apiary_id", "name", "id"]
        indexes = [models.Index(fields=["device_key_hash"], name="hive_device_key_hash_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.device_id})"


class Device(models.Model):
    """A sensor ``device_id`` and the beekeeper it belongs to, for as long as it has history.

    Readings are keyed by device_id alone (they live in the other database, without a
    foreign key), so whoever holds a device_id reads its whole history. A device_id is
    therefore registered to the first owner that uses it and stays theirs after the hive
    is deleted, until its readings are purged or expire: another beekeeper can never take
    it over and read that history.
    """

    device_id = models.CharField(max_length=64, unique=True, validators=[validate_device_id])
    # SET_NULL: a deleted account's device ids stay reserved (their readings are kept),
    # claimable by nobody.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="devices",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "devices"
        ordering = ["device_id"]

    def __str__(self) -> str:
        return self.device_id


class QueenBee(models.Model):
    class MarkingColor(models.TextChoices):
        # International queen marking colours, by last digit of the birth year.
        WHITE = "white", "White (1, 6)"
        YELLOW = "yellow", "Yellow (2, 7)"
        RED = "red", "Red (3, 8)"
        GREEN = "green", "Green (4, 9)"
        BLUE = "blue", "Blue (5, 0)"
        UNMARKED = "unmarked", "Unmarked"

    class RemovalReason(models.TextChoices):
        SUPERSEDED = "superseded", "Superseded"
        SWARMED = "swarmed", "Swarmed"
        DIED = "died", "Died"
        REPLACED = "replaced", "Replaced by beekeeper"
        FAILING = "failing", "Failing / drone layer"
        SOLD = "sold", "Sold"
        LOST = "lost", "Lost"
        OTHER = "other", "Other"

    hive = models.ForeignKey(Hive, on_delete=models.CASCADE, related_name="queens")
    marking_color = models.CharField(max_length=10, choices=MarkingColor.choices, blank=True)
    year_born = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(QUEEN_YEAR_MIN), MaxValueValidator(QUEEN_YEAR_MAX)],
    )
    origin = models.CharField(max_length=200, blank=True, help_text="Breed and/or breeder.")
    mother = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="daughters"
    )
    introduced_at = models.DateField(validators=[validate_past_date])
    removed_at = models.DateField(null=True, blank=True, validators=[validate_past_date])
    removal_reason = models.CharField(max_length=20, choices=RemovalReason.choices, blank=True)
    is_current = models.BooleanField(default=True)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "queen_bees"
        ordering = ["-introduced_at", "-id"]
        verbose_name = "queen bee"
        constraints = [
            models.UniqueConstraint(
                fields=["hive"],
                condition=Q(is_current=True),
                name="one_current_queen_per_hive",
                violation_error_message="This hive already has a current queen.",
            ),
            models.CheckConstraint(
                condition=Q(is_current=False) | Q(removed_at__isnull=True),
                name="current_queen_not_removed",
                violation_error_message="A current queen has no removal date.",
            ),
            models.CheckConstraint(
                condition=Q(removed_at__isnull=True) | Q(removed_at__gte=models.F("introduced_at")),
                name="queen_removed_after_introduced",
                violation_error_message="A queen cannot be removed before she was introduced.",
            ),
        ]

    def __str__(self) -> str:
        label = f"{self.year_born} {self.marking_color}".strip() if self.year_born else "queen"
        return f"{label} in {self.hive.name}"

    def clean(self) -> None:
        # One rule for the API, the admin and commands (services call full_clean()).
        if self.year_born and self.introduced_at and self.year_born > self.introduced_at.year:
            raise ValidationError({"year_born": "A queen cannot be born after she is introduced."})


class Event(models.Model):
    class Type(models.TextChoices):
        INSPECTION = "inspection", "Inspection"
        FEEDING = "feeding", "Feeding"
        TREATMENT = "treatment", "Treatment"
        HARVEST = "harvest", "Harvest"
        BOX_ADDED = "box_added", "Box added"
        BOX_REMOVED = "box_removed", "Box removed"
        SWARM = "swarm", "Swarm"
        SPLIT = "split", "Split"
        QUEEN_CHANGE = "queen_change", "Queen change"
        NOTE = "note", "Note"
        ALERT = "alert", "Alert"

    hive = models.ForeignKey(
        Hive, on_delete=models.CASCADE, null=True, blank=True, related_name="events"
    )
    apiary = models.ForeignKey(
        Apiary, on_delete=models.CASCADE, null=True, blank=True, related_name="events"
    )
    type = models.CharField(max_length=20, choices=Type.choices)
    occurred_at = models.DateTimeField(validators=[validate_event_time])
    notes = models.TextField(blank=True)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "events"
        ordering = ["-occurred_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(hive__isnull=False) & Q(apiary__isnull=True))
                | (Q(hive__isnull=True) & Q(apiary__isnull=False)),
                name="event_belongs_to_hive_xor_apiary",
                violation_error_message="An event belongs to exactly one hive or one apiary.",
            )
        ]
        indexes = [
            models.Index(fields=["hive", "-occurred_at"], name="event_hive_time_idx"),
            models.Index(fields=["apiary", "-occurred_at"], name="event_apiary_time_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_type_display()} {timezone.localdate(self.occurred_at):%Y-%m-%d}"
