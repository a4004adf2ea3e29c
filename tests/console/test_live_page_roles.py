"""The live page by role: it opens for whoever may see the hive (a superuser included, as
the API does) and links to replacing the device key only those who may replace it (the
owner and a superuser; members are told who can)."""

from __future__ import annotations

import html as html_lib
from typing import Any

import pytest
from django.test import Client

from apiary.models import Membership
from tests.accounts.factories import PASSWORD, BeekeeperFactory, SuperuserFactory
from tests.telemetry.conftest import make_hive

PAGE_DB = pytest.mark.django_db(databases=["default", "telemetry"])

OWNER_VIEW = "Lost it? Replace it on"
MEMBER_VIEW = "Only the apiary's owner can replace it"


def _page(user: Any, hive_id: int) -> tuple[int, str]:
    client = Client()
    assert client.login(email=user.email, password=PASSWORD)
    response = client.get(f"/hives/{hive_id}/live")
    return response.status_code, html_lib.unescape(response.content.decode())


@PAGE_DB
def test_a_superuser_opens_another_beekeepers_live_page_as_its_owner() -> None:
    alice: Any = BeekeeperFactory(email="alice@example.com")
    root: Any = SuperuserFactory()
    hive = make_hive(alice, "page-001").hive
    status, html = _page(root, hive.pk)
    assert status == 200
    assert f'data-ws-path="/ws/hive/{hive.pk}/telemetry"' in html
    assert OWNER_VIEW in html and MEMBER_VIEW not in html
    assert f"/admin/apiary/hive/{hive.pk}/device-key/" in html


@PAGE_DB
def test_the_owner_gets_the_owner_view() -> None:
    alice: Any = BeekeeperFactory(email="alice@example.com")
    hive = make_hive(alice, "page-001").hive
    status, html = _page(alice, hive.pk)
    assert status == 200
    assert OWNER_VIEW in html and MEMBER_VIEW not in html


@PAGE_DB
@pytest.mark.parametrize("role", ["viewer", "editor"])
def test_a_member_gets_the_member_view(role: str) -> None:
    alice: Any = BeekeeperFactory(email="alice@example.com")
    bob: Any = BeekeeperFactory(email="bob@example.com")
    hive = make_hive(alice, "page-001").hive
    Membership.objects.create(apiary=hive.apiary, user=bob, email=bob.email, role=role)
    status, html = _page(bob, hive.pk)
    assert status == 200
    assert MEMBER_VIEW in html and OWNER_VIEW not in html
    assert "/device-key/" not in html


@PAGE_DB
def test_a_stranger_gets_no_page() -> None:
    alice: Any = BeekeeperFactory(email="alice@example.com")
    carol: Any = BeekeeperFactory(email="carol@example.com")
    hive = make_hive(alice, "page-001").hive
    assert _page(carol, hive.pk)[0] == 404
