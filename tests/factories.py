"""Factories for the beekeeping domain (users come from tests/accounts/factories.py)."""

from __future__ import annotations

import datetime as dt

import factory
from django.utils import timezone

from apiary.device_keys import device_key_hash
from apiary.models import Apiary, Device, Event, Hive, QueenBee
from tests.accounts.factories import PASSWORD, BeekeeperFactory, SuperuserFactory, login

__all__ = [
    "PASSWORD",
    "ApiaryFactory",
    "BeekeeperFactory",
    "EventFactory",
    "HiveFactory",
    "QueenFactory",
    "SuperuserFactory",
    "login",
]


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
