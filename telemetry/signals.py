"""Signals of the telemetry app, for other apps to react to without telemetry knowing them."""

from django.dispatch import Signal

# Sent once after new readings are committed: ``batches``, one ``(device_id, readings)``
# per device with only its new readings (telemetry.validation.ValidReading), sorted by
# time, and ``now`` (the ingest's clock: None for the real one; tests replay days with
# their own). One commit may hold many devices' readings (readings_ingest_many).
readings_stored = Signal()
