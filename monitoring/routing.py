from django.urls import path

from monitoring.consumers import HiveTelemetryConsumer

websocket_urlpatterns = [
    path("ws/hive/<int:hive_id>/telemetry", HiveTelemetryConsumer.as_asgi()),
    path("ws/hive/<int:hive_id>/telemetry/", HiveTelemetryConsumer.as_asgi()),
]
