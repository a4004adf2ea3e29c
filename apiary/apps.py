from django.apps import AppConfig


class ApiaryConfig(AppConfig):
    name = "apiary"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from apiary import signals  # noqa: F401 - registers the device-key cache receivers
