"""Signals of the telemetry app, for other apps to react to without telemetry knowing them."""

from django.dispatch import Signal

# Sent once after new readings are committed: ``batches``, one ``(device_id, readings)``
# per device with only its new readings (telemetry.validation.ValidReading), sorted by
# time, and ``now`` (the ingest's clock: None for the real one; tests replay days with
# their own). One commit may hold many devices' readings (readings_ingest_many).
readings_stored = Signal()

# Sent after a calibration of a device is added or deleted (and committed): ``device_id``,
# ``metric`` and ``valid_from``. The values from valid_from on are not the ones before:
# whoever remembers values (the alert evaluation's state) starts again from the next.
calibration_changed = Signal()

# Sent to learn why a device's weight jumped between ``start`` and ``end``: each receiver
# returns a telemetry.selectors.Explanations (windows of events, inspections and swarms
# that the apps above telemetry know of). The net weight leaves out what they explain.
weight_explanations = Signal()
