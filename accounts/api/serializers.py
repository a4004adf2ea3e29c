from __future__ import annotations

from typing import Any

from rest_framework import serializers
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer, TokenRefreshSerializer

from accounts.models import User
from core.strict import StrictFieldsMixin

TIME_ZONE_HELP = (
    "IANA time zone (Europe/Berlin) of the console's pages and the alert emails; empty "
    "when none is chosen (the console then takes the browser's). API times stay UTC."
)


class PasswordField(serializers.CharField):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("write_only", True)
        kwargs.setdefault("trim_whitespace", False)
        kwargs.setdefault("style", {"input_type": "password"})
        super().__init__(**kwargs)


class RegisterInputSerializer(StrictFieldsMixin, serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    password = PasswordField(max_length=128)
    name = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")


class RegisterOutputSerializer(serializers.Serializer):
    """The same for a new and a taken address: nothing in it tells them apart."""

    email = serializers.EmailField(read_only=True, help_text="The address, normalised.")
    name = serializers.CharField(read_only=True)
    detail = serializers.CharField(read_only=True)


class UserOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "email", "email_verified", "name", "date_joined", "time_zone"]
        read_only_fields = fields
        extra_kwargs = {"time_zone": {"help_text": TIME_ZONE_HELP}}


class VerifyInputSerializer(StrictFieldsMixin, serializers.Serializer):
    token = serializers.CharField(
        max_length=1000, help_text="The token of the link sent to the address."
    )


class VerifyOutputSerializer(serializers.Serializer):
    email = serializers.EmailField(read_only=True)
    email_verified = serializers.BooleanField(read_only=True)
    detail = serializers.CharField(read_only=True)


class DetailOutputSerializer(serializers.Serializer):
    detail = serializers.CharField(read_only=True)


class UserUpdateInputSerializer(StrictFieldsMixin, serializers.Serializer):
    """The profile fields a user may change; anything else in the body is a 400."""

    email = serializers.EmailField(max_length=254, required=False)
    name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    time_zone = serializers.CharField(
        max_length=64, required=False, allow_blank=True, help_text=TIME_ZONE_HELP
    )


class PasswordChangeInputSerializer(StrictFieldsMixin, serializers.Serializer):
    old_password = PasswordField(max_length=128)
    new_password = PasswordField(max_length=128)


class LogoutInputSerializer(StrictFieldsMixin, serializers.Serializer):
    refresh = serializers.CharField(write_only=True)


class TokenPairOutputSerializer(serializers.Serializer):
    access = serializers.CharField(read_only=True, help_text="Short-lived; send as Bearer.")
    refresh = serializers.CharField(read_only=True, help_text="Single use: rotates on refresh.")


class TokenObtainInputSerializer(StrictFieldsMixin, TokenObtainPairSerializer):
    """simplejwt's login, refusing unknown fields and values that are not strings."""


class TokenRefreshInputSerializer(StrictFieldsMixin, TokenRefreshSerializer):
    """simplejwt's refresh, refusing unknown fields and a token that is not a string."""
