"""ASGI entry point served by daphne: HTTP through Django, WebSockets through Channels."""

import asyncio
import os
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "beeapi.settings")
django.setup(set_prefix=False)

from core.asgi_http import OneHopASGIHandler, daphne_raw_post_bodies  # noqa: E402

django_asgi_app = OneHopASGIHandler()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from alerts.routing import websocket_urlpatterns as alert_sockets  # noqa: E402
from beeapi import gc_tuning  # noqa: E402
from monitoring.live import server_loop_set  # noqa: E402
from monitoring.live_hub import autobahn_plain_log_arguments  # noqa: E402
from monitoring.routing import websocket_urlpatterns as telemetry_sockets  # noqa: E402
from monitoring.ws_auth import websocket_stack  # noqa: E402
from telemetry.timescale import log_mode  # noqa: E402


async def http_application(scope: dict, receive: Any, send: Any) -> None:
    # Live messages sent from views go through this loop (monitoring.live.group_send).
    server_loop_set(asyncio.get_running_loop())
    await django_asgi_app(scope, receive, send)


application = ProtocolTypeRouter(
    {
        "http": http_application,
        # types-channels wants the URLPattern subclass it declares for ASGI callbacks;
        # django-stubs' path() only ever returns a plain URLPattern.
        "websocket": websocket_stack(
            URLRouter(telemetry_sockets + alert_sockets)  # type: ignore[arg-type]
        ),
    }
)

log_mode()
autobahn_plain_log_arguments()
daphne_raw_post_bodies()
# Last, so everything imported above is frozen out of collection (beeapi/gc_tuning.py).
gc_tuning.tune()
