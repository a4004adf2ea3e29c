"""Signals of the telemetry app, for other apps to react to without telemetry knowing them."""

from django.dispatch import Signal

# Sent after a batch's readings are committed, with only the new ones, sorted by time:
# ``device_id`` (str), ``readings`` (list of telemetry.validation.ValidReading) and ``now``
# (the ingest's clock: None for the real one; tests replay days with their own).
readings_stored = Signal()
