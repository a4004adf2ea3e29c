"""Webhooks: timestamped signatures a receiver can check against replay (with the README's
own example), and the address guard through IPv6 forms that embed an IPv4 address."""

from __future__ import annotations

import ipaddress
import re
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from django.utils import timezone

from alerts import services, webhooks
from alerts.delivery import deliveries_send
from alerts.models import Delivery, Webhook
from tests.alerts.conftest import FLOW, Receiver, silent_sensor_alert

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_verify() -> dict[str, Any]:
    """The README's receiver example, run as written: its namespace (``verify``, ``time``)."""
    text = README.read_text()
    section = text[text.index("A receiver checks the signature") :]
    [code] = re.findall(r"```python\n(.*?)```", section, flags=re.S)[:1]
    namespace: dict[str, Any] = {}
    exec(textwrap.dedent(code), namespace)  # noqa: S102 - the documented code itself
    return namespace


def later(namespace: dict[str, Any], seconds: float) -> None:
    """Run the README's check as if ``seconds`` had passed since now."""
    now = time.time()
    namespace["time"] = SimpleNamespace(time=lambda: now + seconds)


@pytest.fixture
def private_ok(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    return settings


# --- Signatures -------------------------------------------------------------------------


@FLOW
def test_a_real_delivery_passes_the_readmes_check_and_its_replay_does_not(
    hive, alice, receiver, private_ok
):
    webhook = services.webhook_create(actor=alice, url=receiver.url)
    silent_sensor_alert("scale-3")
    before = int(time.time())
    deliveries_send()
    after = int(time.time())
    [(headers, body)] = receiver.received

    header = headers["X-BeeAPI-Signature"]
    match = re.fullmatch(r"t=(\d+),v1=([0-9a-f]{64})", header)
    assert match, header
    assert before <= int(match[1]) <= after  # signed when sent
    check = readme_verify()
    assert check["verify"](webhook.secret, header, body) is True

    # The same capture replayed 301 s later is refused by the documented check...
    later(check, 301)
    assert check["verify"](webhook.secret, header, body) is False
    # ...and so is a replay with a fresh time on the captured signature.
    fresh = header.replace(f"t={match[1]}", f"t={int(time.time()) + 301}")
    assert check["verify"](webhook.secret, fresh, body) is False
    # Within the window it is accepted; a changed body or another secret never is.
    later(check, 299)
    assert check["verify"](webhook.secret, header, body) is True
    assert check["verify"](webhook.secret, header, body + b" ") is False
    assert check["verify"]("another secret", header, body) is False
    assert check["verify"](webhook.secret, "sha256=" + match[2], body) is False


@FLOW
def test_every_attempt_is_signed_with_its_own_send_time(hive, alice, private_ok):
    receiver = Receiver(statuses=(503, 200))
    try:
        webhook = services.webhook_create(actor=alice, url=receiver.url)
        silent_sensor_alert("scale-3")
        windows = []
        for _ in range(2):
            Delivery.objects.filter(channel="webhook").update(next_attempt_at=timezone.now())
            before = int(time.time())
            deliveries_send()
            windows.append((before, int(time.time())))
        assert Delivery.objects.get(channel="webhook").state == Delivery.State.DELIVERED
        check = readme_verify()
        for (headers, body), (before, after) in zip(receiver.received, windows, strict=True):
            t = int(re.match(r"t=(\d+),", headers["X-BeeAPI-Signature"])[1])
            assert before <= t <= after
            assert check["verify"](webhook.secret, headers["X-BeeAPI-Signature"], body)
    finally:
        receiver.close()


def test_the_signature_is_hmac_sha256_of_time_dot_body():
    import hashlib
    import hmac

    header = webhooks.signature("s3cret", b'{"a":1}', timestamp=1700000000)
    expected = hmac.new(b"s3cret", b'1700000000.{"a":1}', hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"


# --- The address guard ------------------------------------------------------------------


def sixtofour(v4: str) -> str:
    return str(ipaddress.IPv6Address((0x2002 << 112) | (int(ipaddress.IPv4Address(v4)) << 80)))


def nat64(v4: str, prefix: str = "64:ff9b::") -> str:
    return str(
        ipaddress.IPv6Address(int(ipaddress.IPv6Address(prefix)) | int(ipaddress.IPv4Address(v4)))
    )


def teredo(server: str, client: str) -> str:
    """2001:0000:<server>:<flags>:<port ^ ffff>:<client ^ ffffffff>."""
    value = (
        (0x20010000 << 96)
        | (int(ipaddress.IPv4Address(server)) << 64)
        | (0x8000 << 48)
        | ((0xFFFF ^ 40000) << 32)
        | (int(ipaddress.IPv4Address(client)) ^ 0xFFFFFFFF)
    )
    address = ipaddress.IPv6Address(value)
    assert address.teredo == (ipaddress.IPv4Address(server), ipaddress.IPv4Address(client))
    return str(address)


INTERNAL = ["127.0.0.1", "10.1.2.3", "169.254.169.254", "192.168.0.1", "0.0.0.0", "224.0.0.1"]
PUBLIC = "8.8.8.8"

REFUSED = [
    *(sixtofour(v4) for v4 in INTERNAL),
    *(nat64(v4) for v4 in INTERNAL),
    *(nat64(v4, "64:ff9b:1::") for v4 in INTERNAL),
    *(teredo(PUBLIC, v4) for v4 in INTERNAL),  # the client inside is internal
    teredo("127.0.0.1", PUBLIC),  # the server inside is
]


@pytest.mark.django_db
@pytest.mark.parametrize("address", REFUSED)
def test_ipv6_forms_of_internal_ipv4_addresses_are_refused(as_alice, address):
    response = as_alice.post("/webhooks", {"url": f"http://[{address}]:8080/hook"}, format="json")
    assert response.status_code == 400, response.json()
    assert "internal address" in " ".join(response.json()["url"])
    assert not Webhook.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "address",
    [
        sixtofour(PUBLIC),
        nat64(PUBLIC),  # what DNS64 answers for an IPv4-only host on an IPv6-only network
        teredo("65.54.227.120", PUBLIC),
        "2606:4700:4700::1111",
        "::ffff:8.8.8.8",
    ],
)
def test_ipv6_forms_of_public_addresses_are_accepted(as_alice, address):
    response = as_alice.post("/webhooks", {"url": f"http://[{address}]/hook"}, format="json")
    assert response.status_code == 201, response.json()


@pytest.mark.parametrize("address", REFUSED)
def test_the_send_time_check_refuses_them_too(address, settings):
    """send() checks again (a name may resolve elsewhere by then): nothing is connected."""
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    result = webhooks.send(f"http://[{address}]/hook", "secret", b"{}")
    assert result.status is None and result.error.startswith("refused: ")
