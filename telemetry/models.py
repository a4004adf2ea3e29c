"""Sensor readings on the ``telemetry`` database (TimescaleDB, or plain PostgreSQL).

``readings`` holds ``device_id`` as a plain value, never a foreign key: hives live in the
other database. The table, hypertable, continuous aggregate and policies are created in
migrations (see telemetry/migrations); these models describe them for the ORM.
"""

from __future__ import annotations

from django.db import models


class Reading(models.Model):
    # (device_id, time) identifies a reading: a device re-sending it changes nothing.
    # On a hypertable every unique index must include the time column, which this does.
    pk = models.CompositePrimaryKey("device_id", "time")
    time = models.DateTimeField()
    device_id = models.CharField(max_length=64)
    temperature = models.FloatField(null=True, blank=True, help_text="°C")
    humidity = models.FloatField(null=True, blank=True, help_text="% relative humidity")
    weight = models.FloatField(null=True, blank=True, help_text="kg")
    sound_level = models.FloatField(null=True, blank=True, help_text="dB")
    outside_temperature = models.FloatField(null=True, blank=True, help_text="°C")
    battery = models.FloatField(null=True, blank=True, help_text="V")
    rssi = models.FloatField(null=True, blank=True, help_text="dBm")
    snr = models.FloatField(null=True, blank=True, help_text="dB")

    class Meta:
        db_table = "readings"
        ordering = ["-time"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(temperature__isnull=False)
                | models.Q(humidity__isnull=False)
                | models.Q(weight__isnull=False)
                | models.Q(sound_level__isnull=False)
                | models.Q(outside_temperature__isnull=False)
                | models.Q(battery__isnull=False)
                | models.Q(rssi__isnull=False)
                | models.Q(snr__isnull=False),
                name="reading_has_a_metric",
            )
        ]
        indexes = [models.Index(fields=["device_id", "-time"], name="readings_device_time_idx")]

    def __str__(self) -> str:
        return f"{self.device_id} @ {self.time:%Y-%m-%d %H:%M:%S}"


class ReadingHourly(models.Model):
    """One hour of one device's readings, from ``readings_hourly`` (read-only).

    A TimescaleDB continuous aggregate with real-time aggregation, or on plain PostgreSQL
    a view with the same columns over the rollup that triggers keep on every write;
    created by migrations 0003 and 0005, never by the ORM.
    """

    pk = models.CompositePrimaryKey("device_id", "bucket")
    bucket = models.DateTimeField()
    device_id = models.CharField(max_length=64)
    temperature_avg = models.FloatField(null=True)
    temperature_min = models.FloatField(null=True)
    temperature_max = models.FloatField(null=True)
    humidity_avg = models.FloatField(null=True)
    humidity_min = models.FloatField(null=True)
    humidity_max = models.FloatField(null=True)
    weight_avg = models.FloatField(null=True)
    weight_min = models.FloatField(null=True)
    weight_max = models.FloatField(null=True)
    sound_level_avg = models.FloatField(null=True)
    sound_level_min = models.FloatField(null=True)
    sound_level_max = models.FloatField(null=True)
    reading_count = models.BigIntegerField()
    # Added by migration 0007; the relation has them after reading_count.
    outside_temperature_avg = models.FloatField(null=True)
    outside_temperature_min = models.FloatField(null=True)
    outside_temperature_max = models.FloatField(null=True)
    battery_avg = models.FloatField(null=True)
    battery_min = models.FloatField(null=True)
    battery_max = models.FloatField(null=True)
    rssi_avg = models.FloatField(null=True)
    rssi_min = models.FloatField(null=True)
    rssi_max = models.FloatField(null=True)
    snr_avg = models.FloatField(null=True)
    snr_min = models.FloatField(null=True)
    snr_max = models.FloatField(null=True)

    class Meta:
        managed = False
        db_table = "readings_hourly"
        ordering = ["-bucket"]
        verbose_name_plural = "hourly readings"

    def __str__(self) -> str:
        return f"{self.device_id} @ {self.bucket:%Y-%m-%d %H:00}"


class Calibration(models.Model):
    """How one metric of one device's raw readings becomes the value a beekeeper reads,
    from ``valid_from`` until the device's next calibration of that metric:

        value = (raw + offset - temperature_coefficient × (T - reference_temperature)) × multiplier

    where T is the reading's ``temperature_metric`` (the temperature term only for weight,
    and only where both are set). Raw readings are never rewritten: every answer applies
    the calibrations when it is read (telemetry.calibration), so one added later counts
    for the readings from its time on at once. Keyed by device_id like the readings, and
    purged with them.
    """

    class TemperatureMetric(models.TextChoices):
        TEMPERATURE = "temperature", "Temperature"
        OUTSIDE_TEMPERATURE = "outside_temperature", "Outside temperature"

    device_id = models.CharField(max_length=64)
    metric = models.CharField(max_length=32)
    valid_from = models.DateTimeField()
    offset = models.FloatField(default=0.0, help_text="added to the raw value, in its unit")
    multiplier = models.FloatField(default=1.0, help_text="applied after the offset")
    temperature_coefficient = models.FloatField(
        default=0.0, help_text="raw units per °C the load cell drifts (weight only)"
    )
    reference_temperature = models.FloatField(null=True, blank=True, help_text="°C")
    temperature_metric = models.CharField(
        max_length=32, choices=TemperatureMetric.choices, blank=True, default=""
    )
    kind = models.CharField(
        max_length=16, default="manual", help_text="manual, tare, calibrate or fit"
    )
    note = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "calibrations"
        ordering = ["device_id", "metric", "-valid_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["device_id", "metric", "valid_from"], name="one_calibration_per_instant"
            ),
            models.CheckConstraint(
                condition=~models.Q(multiplier=0), name="calibration_multiplier_not_zero"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.device_id} {self.metric} from {self.valid_from:%Y-%m-%d %H:%M}"
