"""Errors about the keys of a JSON object field (an event's ``details``, a rule's
``params``), validated by a nested serializer and reported as one list of messages."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError


class DetailError(ValidationError):
    """A message about one key of a JSON object: ``"key: message"`` as the API shows it,
    with the key and the bare message kept for forms that show it on the key's own field."""

    def __init__(self, key: str | None, message: str) -> None:
        super().__init__(f"{key}: {message}" if key else message)
        self.key = key
        self.bare = message


def flatten_errors(errors: Any, key: str | None = None) -> list[DetailError]:
    """A nested serializer's errors as one list, each "key: message"."""
    if isinstance(errors, dict):
        out: list[DetailError] = []
        for name, value in errors.items():
            out += flatten_errors(value, None if name == "non_field_errors" else name)
        return out
    return [DetailError(key, str(message)) for message in errors]
