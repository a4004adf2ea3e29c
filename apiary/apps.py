from django.apps import AppConfig


class ApiaryConfig(AppConfig):
    name = "apiary"
    default_auto_field = "django.db.models.BigAutoField"
