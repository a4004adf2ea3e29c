"""Accounts built the way the product builds them: beekeepers go through user_register."""

from __future__ import annotations

from typing import Any

import factory
from rest_framework.test import APIClient

from accounts import services
from accounts.models import User

PASSWORD = "hive-frame-smoker-42"


class BeekeeperFactory(factory.Factory):
    """A registered beekeeper (staff, in the Beekeepers group) whose password is PASSWORD,
    with a verified address unless ``email_verified=False``."""

    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"beekeeper{n}@example.com")
    name = factory.Sequence(lambda n: f"Beekeeper {n}")
    password = PASSWORD
    email_verified = True

    @classmethod
    def _create(cls, model_class: type[User], *args: Any, **kwargs: Any) -> User:
        return services.user_register(**kwargs)


class SuperuserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"root{n}@example.com")
    name = "Site operator"

    @classmethod
    def _create(cls, model_class: type[User], *args: Any, **kwargs: Any) -> User:
        return User.objects.create_superuser(password=PASSWORD, **kwargs)


def login(client: APIClient, email: str, password: str = PASSWORD) -> dict[str, str]:
    response = client.post("/auth/token", {"email": email, "password": password})
    assert response.status_code == 200, response.content
    return response.json()
