from django.apps import AppConfig


class BeeapiConfig(AppConfig):
    name = "beeapi"
    verbose_name = "BeeAPI"
