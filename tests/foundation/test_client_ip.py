"""The client address used by throttles and the sign-in lockout."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from beeapi.client_ip import client_ip


def _request(forwarded: str | None) -> object:
    extra = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded is not None else {}
    return RequestFactory().get("/", REMOTE_ADDR="10.0.0.9", **extra)


def test_without_trusted_proxies_the_header_is_ignored(settings) -> None:
    settings.NUM_PROXIES = 0
    assert client_ip(_request("203.0.113.5")) == "10.0.0.9"


@pytest.mark.parametrize(
    ("forwarded", "expected"),
    [
        ("203.0.113.5", "203.0.113.5"),
        ("198.51.100.1, 203.0.113.5", "203.0.113.5"),  # the client wrote the first one
        ("not-an-address", "10.0.0.9"),
        ("", "10.0.0.9"),
    ],
)
def test_behind_one_proxy_its_entry_counts(settings, forwarded, expected) -> None:
    settings.NUM_PROXIES = 1
    assert client_ip(_request(forwarded)) == expected
