"""Sending an alert to a webhook: signed, time-bounded, never to an internal address.

A target is refused when any address its name resolves to is loopback, private,
link-local, multicast, reserved or otherwise not global, or is an IPv6 address that
embeds such an IPv4 address (IPv4-mapped, 6to4, Teredo, NAT64), unless
WEBHOOK_ALLOW_PRIVATE_NETWORKS=true. The check runs when the webhook is created and
again at every send; the request then goes to the address that was checked (the name
is not resolved a second time, so a DNS answer that changes in between cannot redirect
it), with the name in Host and, for https, in SNI and certificate verification.
Redirects are not followed. Each attempt is signed with its send time (``signature``).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import urllib3
from django.conf import settings
from django.core.exceptions import ValidationError

SIGNATURE_HEADER = "X-BeeAPI-Signature"


def signature(secret: str, body: bytes, *, timestamp: int | None = None) -> str:
    """``t=<unix seconds>,v1=<hex>``: HMAC-SHA256, with the webhook's secret, of
    ``"<t>.<exact body bytes>"``.

    The time is signed with the body so that a receiver can refuse a captured delivery
    replayed later (the README's check allows 300 s); every attempt is signed afresh
    with its own send time.
    """
    t = int(time.time()) if timestamp is None else timestamp
    signed = f"{t}.".encode() + body
    return f"t={t},v1=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


# IPv6 prefixes that carry an IPv4 address a router or relay may deliver to. NAT64
# translators map the well-known 64:ff9b::/96 and the local-use 64:ff9b:1::/48 (RFC
# 8215) onto IPv4 through the last 32 bits; ipaddress knows 6to4 and Teredo itself.
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address leads to: IPv4-mapped (::ffff:0:0/96), 6to4
    (2002::/16), Teredo (2001::/32: its server and its client, whose bits ipaddress
    inverts back) and NAT64. Empty for any other address."""
    if ip.ipv4_mapped is not None:
        return [ip.ipv4_mapped]
    if ip.sixtofour is not None:
        return [ip.sixtofour]
    if ip.teredo is not None:
        return list(ip.teredo)
    if any(ip in network for network in _NAT64):
        return [ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)]
    return []


def _internal_ip(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return (
        not ip.is_global
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_private
        or ip.is_unspecified
    )


def _internal(address: str) -> bool:
    """Whether a resolved address is internal, or an IPv6 address that embeds one."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded:
            # Where these lead decides, not the prefix: ipaddress counts 6to4 as global
            # (2002:7f00:1:: reaches 127.0.0.1 through a relay) but NAT64 as reserved,
            # while a DNS64 resolver on an IPv6-only host gives 64:ff9b::/96 addresses
            # for ordinary public IPv4 hosts. One internal IPv4 inside refuses it.
            return any(_internal_ip(v4) for v4 in embedded)
    return _internal_ip(ip)


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str
    addresses: tuple[str, ...]


def url_check(url: str, *, resolve: bool) -> Target:
    """The parsed target; ValidationError on ``url`` naming the problem.

    ``resolve``: look the name up and refuse internal addresses (every one of them).
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError({"url": "An http:// or https:// URL with a host name."})
    if parts.username or parts.password:
        raise ValidationError({"url": "Credentials in the URL are not allowed."})
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise ValidationError({"url": "The port is not a number from 1 to 65535."}) from None
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    target = Target(parts.scheme, parts.hostname, port, path, ())
    if not resolve:
        return target
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise ValidationError({"url": f"The host {parts.hostname!r} does not resolve."}) from None
    # The host of an IPv4 or IPv6 socket address is its address as a string (typeshed
    # also allows an (int, bytes) pair: a Python built without IPv6 support).
    addresses = tuple(dict.fromkeys(str(info[4][0]) for info in infos))
    if not settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS:
        internal = [a for a in addresses if _internal(a)]
        if internal:
            raise ValidationError(
                {
                    "url": ValidationError(
                        f"{parts.hostname} resolves to an internal address ({internal[0]}):"
                        " webhooks go to public hosts only.",
                        code="internal",
                    )
                }
            )
    return Target(parts.scheme, parts.hostname, port, path, addresses)


@dataclass(frozen=True)
class Result:
    status: int | None
    error: str
    ms: int

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def send(url: str, secret: str, body: bytes, *, headers: dict[str, str] | None = None) -> Result:
    """POST ``body`` to ``url`` once; never raises."""
    started = time.monotonic()

    def result(status: int | None, error: str = "") -> Result:
        return Result(status, error[:500], int((time.monotonic() - started) * 1000))

    try:
        target = url_check(url, resolve=True)
    except ValidationError as exc:
        [problem] = exc.error_dict["url"]
        words = " ".join(problem.messages)
        # An internal target is refused for good; a name that does not resolve may later.
        return result(None, ("refused: " if problem.code == "internal" else "") + words)
    host_header = target.host if target.port in (80, 443) else f"{target.host}:{target.port}"
    all_headers = {
        "Content-Type": "application/json",
        "User-Agent": "BeeAPI-Webhook/2",
        "Host": host_header,
        SIGNATURE_HEADER: signature(secret, body),
        **(headers or {}),
    }
    timeout = urllib3.Timeout(total=settings.WEBHOOK_TIMEOUT_SECONDS)
    error = ""
    for address in target.addresses:
        if target.scheme == "https":
            pool: urllib3.HTTPConnectionPool = urllib3.HTTPSConnectionPool(
                address,
                target.port,
                server_hostname=target.host,
                assert_hostname=target.host,
                timeout=timeout,
                retries=False,
                maxsize=1,
            )
        else:
            pool = urllib3.HTTPConnectionPool(
                address, target.port, timeout=timeout, retries=False, maxsize=1
            )
        try:
            with pool:
                response = pool.urlopen(
                    "POST",
                    target.path,
                    body=body,
                    headers=all_headers,
                    redirect=False,
                    preload_content=False,
                    assert_same_host=False,
                )
                response.read(64 * 1024, decode_content=False)
                response.release_conn()
                return result(response.status)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}"
    return result(None, error or "no address to connect to")
