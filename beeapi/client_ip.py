"""The client's IP address, the same for every throttle and lockout.

Behind no proxy (``NUM_PROXIES=0``, the default) the socket's address is the only truth:
an ``X-Forwarded-For`` header is whatever the client wrote. Behind N trusted proxies the
client is the N-th address from the right of ``X-Forwarded-For`` (each proxy appends the
address it saw), as Django REST framework's throttles read it with the same setting.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    remote = request.META.get("REMOTE_ADDR", "") or ""
    proxies = settings.NUM_PROXIES
    if proxies <= 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [part for part in forwarded if part]
    if not forwarded:
        return remote
    candidate = forwarded[-min(proxies, len(forwarded))]
    try:
        # What a proxy appended is an address; anything else was written by the client.
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote
