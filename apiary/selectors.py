"""Reads of the apiary domain. Every query is scoped to the requesting user."""

from __future__ import annotations

from typing import Any

from django.db.models import OuterRef, Q, QuerySet, Subquery

from apiary.device_keys import device_key_hash
from apiary.models import Apiary, Event, Hive, QueenBee


def _is_superuser(user: Any) -> bool:
    return bool(getattr(user, "is_superuser", False))


def apiary_list(*, user: Any) -> QuerySet[Apiary]:
    qs = Apiary.objects.select_related("owner")
    return qs if _is_superuser(user) else qs.filter(owner=user)


def hive_list_owned(*, user: Any) -> QuerySet[Hive]:
    if _is_superuser(user):
        return Hive.objects.all()
    return Hive.objects.filter(apiary__owner=user)


def hive_list(*, user: Any) -> QuerySet[Hive]:
    """Hives with their current queen and last inspection, in one query."""
    current = QueenBee.objects.filter(hive=OuterRef("pk"), is_current=True)
    last_inspection = Event.objects.filter(
        hive=OuterRef("pk"), type=Event.Type.INSPECTION
    ).order_by("-occurred_at")
    return (
        hive_list_owned(user=user)
        .select_related("apiary")
        .annotate(
            current_queen_id=Subquery(current.values("pk")[:1]),
            current_queen_year=Subquery(current.values("year_born")[:1]),
            current_queen_color=Subquery(current.values("marking_color")[:1]),
            current_queen_origin=Subquery(current.values("origin")[:1]),
            last_inspection_at=Subquery(last_inspection.values("occurred_at")[:1]),
        )
    )


def hive_get_owned(*, user: Any, hive_id: int) -> Hive | None:
    """The user's hive, or None: another user's hive is indistinguishable from none."""
    return hive_list_owned(user=user).filter(pk=hive_id).first()


def hive_by_device_key(*, key: str) -> Hive | None:
    if not key:
        return None
    return Hive.objects.filter(device_key_hash=device_key_hash(key)).first()


def queen_list(*, user: Any) -> QuerySet[QueenBee]:
    qs = QueenBee.objects.select_related("hive", "hive__apiary", "mother")
    return qs if _is_superuser(user) else qs.filter(hive__apiary__owner=user)


def event_list(*, user: Any) -> QuerySet[Event]:
    qs = Event.objects.select_related("hive", "apiary")
    if _is_superuser(user):
        return qs
    return qs.filter(Q(hive__apiary__owner=user) | Q(apiary__owner=user))
