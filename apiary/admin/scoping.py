"""Scoping: every beekeeper (staff, in the Beekeepers group) sees and edits only their own
apiaries, hives, queens and events; superusers see everything.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest

from apiary import selectors
from apiary.models import Apiary, Role


def editable_hives(*, user: Any) -> QuerySet:
    return selectors.hive_list_visible(user=user).filter(
        apiary__in=selectors.apiary_list_editable(user=user)
    )


def may_record_anywhere(request: HttpRequest) -> bool:
    """Whether the user is an editor or owner of any apiary: somewhere to add a hive, a
    queen or an event. A viewer (or a beekeeper with no apiary yet) gets no add pages,
    whose dropdowns would be empty, and no links to them. Once per request."""
    cached = getattr(request, "_apiary_may_record", None)
    if cached is None:
        cached = selectors.apiary_list_editable(user=request.user).exists()
        request._apiary_may_record = cached  # type: ignore[attr-defined]
    return cached


def apiary_role_allows(request: HttpRequest, apiary: Apiary | None, needed: str) -> bool:
    """Whether the signed-in user's role in ``apiary`` is ``needed`` or above."""
    role = selectors.apiary_role(user=request.user, apiary=apiary) if apiary else None
    return selectors.role_allows(role, needed)


class VisibleAdminMixin:
    """Scope querysets and foreign-key choices to what the signed-in beekeeper may see:
    their own apiaries and those shared with them. What they may do with an object follows
    their role in its apiary, as in the services: a viewer gets read-only pages."""

    change_role: str = Role.EDITOR
    delete_role: str = Role.EDITOR
    # Adding needs an apiary to add to (editor or owner): not so for apiaries themselves.
    add_needs_editable_apiary = True

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        qs = super().get_queryset(request)  # type: ignore[misc]
        return self.scope(qs, request.user)

    def scope(self, qs: QuerySet, user: Any) -> QuerySet:
        return qs

    def apiary_of(self, obj: Any) -> Apiary | None:
        raise NotImplementedError

    def has_add_permission(self, request: HttpRequest) -> bool:
        allowed = super().has_add_permission(request)  # type: ignore[misc]
        return allowed and (not self.add_needs_editable_apiary or may_record_anywhere(request))

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        allowed = super().has_change_permission(request, obj)  # type: ignore[misc]
        return allowed and (
            obj is None or apiary_role_allows(request, self.apiary_of(obj), self.change_role)
        )

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        allowed = super().has_delete_permission(request, obj)  # type: ignore[misc]
        return allowed and (
            obj is None or apiary_role_allows(request, self.apiary_of(obj), self.delete_role)
        )

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        # Where something can be recorded (editor or owner); a mother may come from any
        # apiary the user sees.
        choices = {
            "apiary": selectors.apiary_list_editable,
            "hive": editable_hives,
            "mother": selectors.queen_list,
        }
        if db_field.name in choices:
            kwargs["queryset"] = choices[db_field.name](user=request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)  # type: ignore[misc]
