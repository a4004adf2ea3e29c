"""Factories for the beekeeping domain (users come from tests/accounts/factories.py), and
the one definition of the tests' named people, hives with a device key, and clients.

The fixtures built on these (alice, bob, dave, erin, alice_client, as_alice, ...) are in
tests/conftest.py.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import factory
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.models import User
from apiary.device_keys import device_key_generate, device_key_hash
from apiary.models import Apiary, Device, Event, Hive, QueenBee
from tests.accounts.factories import PASSWORD, BeekeeperFactory, SuperuserFactory, login

__all__ = [
    "PASSWORD",
    "ApiaryFactory",
    "BeekeeperFactory",
    "DeviceHive",
    "EventFactory",
    "HiveFactory",
    "QueenFactory",
    "SuperuserFactory",
    "beekeeper",
    "device_client",
    "force_client",
    "jwt_client",
    "login",
    "make_hive",
]


def beekeeper(name: str) -> User:
    """One of the tests' named people: ``beekeeper("alice")`` is the registered, verified
    beekeeper alice@example.com, "Alice", whose password is PASSWORD."""
    return BeekeeperFactory(email=f"{name}@example.com", name=name.capitalize())


# --- Clients: as a user, with a JWT or forced; as a device, with its key -----------------


def jwt_client(user: User) -> APIClient:
    """A client that sends the user's access token, as an app does after signing in."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    return client


def force_client(user: User) -> APIClient:
    """A client authenticated as the user without a token (DRF's force_authenticate)."""
    client = APIClient()
    client.force_authenticate(user)
    return client


def device_client(key: str) -> APIClient:
    """A client that sends a device key (X-Device-Key), as a hive's sensor does."""
    client = APIClient()
    client.credentials(HTTP_X_DEVICE_KEY=key)
    return client


# --- A hive with its device key ---------------------------------------------------------


@dataclass
class DeviceHive:
    hive: Hive
    key: str

    @property
    def device_id(self) -> str:
        return self.hive.device_id


def make_hive(owner: User, device_id: str) -> DeviceHive:
    """A hive in a new apiary of ``owner``'s with a random device key (its hash stored,
    device_key_issued_to left unset) and its device_id registered to ``owner``."""
    apiary = Apiary.objects.create(owner=owner, name=f"{owner.name}'s yard")
    key = device_key_generate()
    hive = Hive.objects.create(
        apiary=apiary,
        name=f"Hive {device_id}",
        device_id=device_id,
        device_key_hash=device_key_hash(key),
    )
    Device.objects.create(device_id=device_id, owner=owner)
    return DeviceHive(hive=hive, key=key)


# --- Factories --------------------------------------------------------------------------


class ApiaryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Apiary

    owner = factory.SubFactory(BeekeeperFactory)
    name = factory.Sequence(lambda n: f"Apiary {n}")
    latitude = 48.2
    longitude = 16.37


class HiveFactory(factory.django.DjangoModelFactory):
    """A hive whose device key is ``device-key-<device_id>`` (stored hashed)."""

    class Meta:
        model = Hive
        skip_postgeneration_save = True

    apiary = factory.SubFactory(ApiaryFactory)
    name = factory.Sequence(lambda n: f"Hive {n}")
    device_id = factory.Sequence(lambda n: f"hive-{n:04d}")
    device_key_hash = factory.LazyAttribute(lambda h: device_key_hash(f"device-key-{h.device_id}"))
    # As hive_create does: the key is issued under the apiary's owner.
    device_key_issued_to = factory.LazyAttribute(lambda h: h.apiary.owner)

    @factory.post_generation
    def register_device(hive: Hive, create: bool, extracted: object, **kwargs: object) -> None:
        # As apiary.services.hive_create does: the device_id belongs to the hive's owner.
        if create:
            Device.objects.get_or_create(
                device_id=hive.device_id, defaults={"owner_id": hive.apiary.owner_id}
            )


class QueenFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = QueenBee

    hive = factory.SubFactory(HiveFactory)
    year_born = 2025
    marking_color = "blue"
    introduced_at = dt.date(2025, 5, 1)
    is_current = True


class EventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Event

    hive = factory.SubFactory(HiveFactory)
    type = Event.Type.NOTE
    occurred_at = factory.LazyFunction(timezone.now)
