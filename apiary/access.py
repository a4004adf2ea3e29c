"""The rules every write of the apiary domain shares: who may act (a role in the
apiary), how a refusal is said (a field error "Not found.", a 403 naming the role needed,
a 409 conflict), and how a changed object is validated and saved."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError

from apiary.models import Apiary, Hive, Role
from apiary.selectors import apiary_role, role_allows

NOT_FOUND = "Not found."


class RoleRequired(PermissionDenied):
    """The actor sees the object but their role does not allow the action (HTTP 403)."""

    def __init__(self, needed: str, role: str) -> None:
        article = "an" if role[:1] in "aeiou" else "a"
        super().__init__(f"This needs the {needed} role in this apiary; you are {article} {role}.")
        self.needed, self.role = needed, role
        self.code = "role_required"


def require_role(
    actor: Any, apiary: Apiary | None, needed: str = Role.EDITOR, *, field: str = "apiary"
) -> str:
    """The actor's role in ``apiary`` when it allows ``needed``.

    An apiary the actor has no role in is "not found" (a field error: the object was
    named in a body; objects in a URL were looked up through the selectors already), a
    role too low is a 403 naming the role needed.
    """
    role = apiary_role(user=actor, apiary=apiary) if apiary is not None else None
    if role is None:
        raise ValidationError({field: NOT_FOUND})
    if not role_allows(role, needed):
        raise RoleRequired(needed, role)
    return role


def require_apiary(
    actor: Any, apiary: Apiary | None, field: str = "apiary", needed: str = Role.EDITOR
) -> Apiary:
    require_role(actor, apiary, needed, field=field)
    return apiary  # type: ignore[return-value]


def require_hive(
    actor: Any, hive: Hive | None, field: str = "hive", needed: str = Role.EDITOR
) -> Hive:
    require_role(actor, hive.apiary if hive is not None else None, needed, field=field)
    return hive  # type: ignore[return-value]


def hive_require_role(*, actor: Any, hive: Hive, needed: str) -> str:
    """For callers outside this module that act on a hive (posting its readings)."""
    return require_role(actor, hive.apiary, needed, field="hive")


def set_fields(obj: Any, fields: dict[str, Any], allowed: set[str]) -> list[str]:
    unknown = set(fields) - allowed
    if unknown:
        raise ValidationError({key: "This field cannot be changed." for key in sorted(unknown)})
    for key, value in fields.items():
        setattr(obj, key, value)
    return list(fields)


def full_clean_save(obj: Any, *, exclude: list[str] | None = None) -> None:
    # full_clean runs the model's field and constraint validation, so the admin and the
    # API report the same field-level errors before the database would refuse the row.
    obj.full_clean(exclude=exclude)
    obj.save()


class Conflict(ValidationError):
    """A request that contradicts what exists (HTTP 409), keyed by field like any error."""

    http_status = 409
