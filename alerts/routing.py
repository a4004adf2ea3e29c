from django.urls import path

from alerts.consumers import AlertsConsumer

websocket_urlpatterns = [
    # django-stubs' path() takes views only; Django routes any callable, here an ASGI app.
    path(route, AlertsConsumer.as_asgi())  # type: ignore[arg-type]
    for route in ("ws/alerts", "ws/alerts/")
]
