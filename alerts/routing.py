from django.urls import path

from alerts.consumers import AlertsConsumer

websocket_urlpatterns = [
    path("ws/alerts", AlertsConsumer.as_asgi()),
    path("ws/alerts/", AlertsConsumer.as_asgi()),
]
