from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    """The beekeeper's pages in the admin: the start page, the hive page's panels and
    inspection buttons, the live page."""

    name = "console"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from console import admin  # noqa: F401 - the hive page's inspection buttons
