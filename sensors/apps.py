from django.apps import AppConfig


class SensorsConfig(AppConfig):
    """Sensors a beekeeper already owns: the ingest adapters (MQTT, The Things Network,
    BEEP-compatible and ThingSpeak-compatible HTTP), field maps from their payload keys to
    BeeAPI's metrics, what each device last sent, and the MQTT broker's device clients."""

    name = "sensors"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from sensors import signals

        signals.connect()
