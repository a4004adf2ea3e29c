from __future__ import annotations

from rest_framework import serializers

from accounts.models import User


class PasswordField(serializers.CharField):
    def __init__(self, **kwargs: object) -> None:
        kwargs.setdefault("write_only", True)
        kwargs.setdefault("trim_whitespace", False)
        kwargs.setdefault("style", {"input_type": "password"})
        super().__init__(**kwargs)


class RegisterInputSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    password = PasswordField(max_length=128)
    name = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")


class UserOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "email", "name", "date_joined"]
        read_only_fields = fields


class UserUpdateInputSerializer(serializers.Serializer):
    """The profile fields a user may change; anything else in the body is ignored."""

    email = serializers.EmailField(max_length=254, required=False)
    name = serializers.CharField(max_length=150, required=False, allow_blank=True)


class PasswordChangeInputSerializer(serializers.Serializer):
    old_password = PasswordField(max_length=128)
    new_password = PasswordField(max_length=128)


class LogoutInputSerializer(serializers.Serializer):
    refresh = serializers.CharField(write_only=True)


class TokenPairOutputSerializer(serializers.Serializer):
    access = serializers.CharField(read_only=True, help_text="Short-lived; send as Bearer.")
    refresh = serializers.CharField(read_only=True, help_text="Single use: rotates on refresh.")
