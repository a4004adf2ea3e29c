from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    """Hive-facing telemetry: the readings API of hives and devices, the live streams
    (consumers, hub, access checks), the simulator and the import command."""

    name = "monitoring"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from monitoring import signals  # noqa: F401 - publishes readings, closes lost streams
