from __future__ import annotations

from typing import Any, ClassVar

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from core.validators import validate_time_zone


def normalize_email(email: str) -> str:
    """Emails are case-insensitive logins: one canonical, lowercased form is stored."""
    return BaseUserManager.normalize_email(email.strip()).lower()


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def get_by_natural_key(self, username: str | None) -> User:
        # Login (API and admin) with any capitalisation finds the stored lowercased email.
        return self.get(email=normalize_email(username or ""))

    def _create(self, email: str, password: str | None, **extra: Any) -> User:
        if not email:
            raise ValueError("email is required")
        user = self.model(email=normalize_email(email), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        # The operator who runs createsuperuser vouches for the address.
        extra.update(is_staff=True, is_superuser=True, email_verified=True)
        return self._create(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A beekeeper. The email address is the login."""

    email = models.EmailField(unique=True)
    name = models.CharField(max_length=150, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False, help_text="Can sign in to the admin.")
    email_verified = models.BooleanField(
        default=False,
        help_text="The owner of the address followed the link sent to it. Invitations to "
        "the address become memberships only then.",
    )
    date_joined = models.DateTimeField(default=timezone.now)
    time_zone = models.CharField(
        max_length=64,
        blank=True,
        default="",
        validators=[validate_time_zone],
        help_text="IANA name (Europe/Berlin): the console's pages and the alert emails "
        "show times in it. Empty until set: the console then takes the browser's.",
    )

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        db_table = "users"
        ordering = ["email"]
        constraints = [
            # Uniqueness of `email` is only case-insensitive if every row is lowercased.
            models.CheckConstraint(condition=Q(email=Lower("email")), name="users_email_lowercase"),
        ]

    def __str__(self) -> str:
        return self.email
