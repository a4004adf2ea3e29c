"""Reads of the apiary domain. Every query is scoped to what the requesting user may see:
their own apiaries and the ones shared with them (apiary.models.Membership), with the
user's role. Another user's object is indistinguishable from one that does not exist.

The visibility rule is written here once, for every app: ``role_q`` (the user owns the
apiary or is a member of it), ``visible_q`` (that, or any apiary for a superuser),
``role_sql`` (role_q for raw SQL), ``role_holder_q`` (the same rule from the apiary's
side: which users hold a role in it), ``role_annotation`` and ``apiary_role`` (which
role), ``apiary_is_owned_by`` (ownership alone)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from django.conf import settings
from django.db import connections, router
from django.db.models import Case, Exists, OuterRef, Q, QuerySet, Subquery, Value, When

from apiary.device_keys import device_key_hash
from apiary.models import ROLE_RANK, Apiary, Event, Hive, Membership, QueenBee, Role
from core import entity_cache
from core.databases import DEFAULT_DB
from telemetry.selectors import Explanations

if TYPE_CHECKING:
    from datetime import datetime
    from typing import TypedDict

    from django_stubs_ext import WithAnnotations

    class HiveListAnnotations(TypedDict):
        """What hive_list() annotates on each hive."""

        current_queen_id: int | None
        current_queen_year: int | None
        current_queen_color: str | None
        current_queen_origin: str | None
        last_inspection_at: datetime | None
        role: str | None

    ListedHive = WithAnnotations[Hive, HiveListAnnotations]

    class ApiaryListAnnotations(TypedDict):
        """What apiary_list() annotates on each apiary."""

        role: str | None

    ListedApiary = WithAnnotations[Apiary, ApiaryListAnnotations]

logger = logging.getLogger("apiary")

# Apiary's tables, for other apps' raw SQL: they name these, never the literal names.
APIARY_TABLE = Apiary._meta.db_table
HIVE_TABLE = Hive._meta.db_table


def _column(model: Any, field: str) -> str:
    return model._meta.get_field(field).column


def _is_superuser(user: Any) -> bool:
    return bool(getattr(user, "is_superuser", False))


# --- Who may see an apiary or hive: the one rule ----------------------------------------


def role_q(user: Any, path: str = "") -> Q:
    """Rows whose apiary, reached through ``path`` ("" for apiaries, "apiary__" for
    hives, "hive__apiary__" for queens, ...), the user owns or is a member of, in any
    role. Superusers get no exception here (see visible_q)."""
    member = Membership.objects.filter(apiary=OuterRef(f"{path}id"), user=user)
    return Q(**{f"{path}owner": user}) | Q(Exists(member))


def visible_q(user: Any, path: str = "") -> Q:
    """What the user may see: rows of apiaries they hold a role in (role_q), and every
    row for a superuser."""
    return Q() if _is_superuser(user) else role_q(user, path)


def role_holder_q(apiary: Apiary, user_field: str = "user") -> Q:
    """Rows whose user (``user_field``, a foreign key to a user) owns ``apiary`` or is a
    member of it: role_q from the apiary's side."""
    member = Membership.objects.filter(apiary_id=apiary.pk, user=OuterRef(f"{user_field}_id"))
    return Q(**{f"{user_field}_id": apiary.owner_id}) | Q(Exists(member))


def role_sql(*, user: str, apiary: str) -> str:
    """role_q for raw SQL: true when ``user`` (an SQL expression: a parameter such as
    ``%(user)s`` or a column) owns or is a member of the apiary row aliased ``apiary``
    (a row of APIARY_TABLE)."""
    return (
        f"({apiary}.{_column(Apiary, 'owner')} = {user} OR EXISTS ("
        f"SELECT 1 FROM {Membership._meta.db_table} m"
        f" WHERE m.{_column(Membership, 'apiary')} = {apiary}.id"
        f" AND m.{_column(Membership, 'user')} = {user}))"
    )


def owner_sql(*, user: str, apiary: str) -> str:
    """apiary_is_owned_by for raw SQL: ``user`` owns the apiary row aliased ``apiary``."""
    return f"{apiary}.{_column(Apiary, 'owner')} = {user}"


def role_annotation(user: Any, path: str = "", *, superuser_as_owner: bool = True) -> Case:
    """The user's role in the apiary reached through ``path`` (as role_q), for
    ``annotate(role=...)``: owner for a superuser (unless ``superuser_as_owner`` is
    False: then the role they really hold, as for anyone), None where they hold none."""
    if superuser_as_owner and _is_superuser(user):
        return Case(default=Value(Role.OWNER.value))
    member_role = Membership.objects.filter(apiary=OuterRef(f"{path}id"), user=user)
    return Case(
        When(**{f"{path}owner_id": user.pk}, then=Value(Role.OWNER.value)),
        default=Subquery(member_role.values("role")[:1]),
    )


def apiary_is_owned_by(*, apiary: Apiary, user_id: int | None) -> bool:
    """Whether the user owns ``apiary`` (a member, or a superuser, does not)."""
    return user_id is not None and apiary.owner_id == user_id


def apiary_role(*, user: Any, apiary: Apiary) -> str | None:
    """The user's role in ``apiary``, or None when they have none (owner for a
    superuser)."""
    if _is_superuser(user) or apiary_is_owned_by(apiary=apiary, user_id=getattr(user, "pk", None)):
        return Role.OWNER.value
    if not getattr(user, "is_authenticated", False):
        return None
    return (
        Membership.objects.filter(apiary_id=apiary.pk, user=user)
        .values_list("role", flat=True)
        .first()
    )


def role_allows(role: str | None, needed: str) -> bool:
    return role is not None and ROLE_RANK[Role(role)] >= ROLE_RANK[Role(needed)]


# --- Selectors ----------------------------------------------------------------------------


def apiary_list(*, user: Any) -> QuerySet[ListedApiary]:
    """The user's apiaries and those shared with them, each with the user's ``role``."""
    qs = Apiary.objects.select_related("owner").annotate(role=role_annotation(user))
    return qs.filter(visible_q(user))


def apiary_list_editable(*, user: Any) -> QuerySet[ListedApiary]:
    """Apiaries where the user may record hives, queens and events (editor or owner)."""
    return apiary_list(user=user).filter(role__in=[Role.EDITOR, Role.OWNER])


def hive_list_visible(*, user: Any) -> QuerySet[Hive]:
    """Hives of the user's apiaries and of those shared with them (any role)."""
    return Hive.objects.filter(visible_q(user, "apiary__"))


def hive_list(*, user: Any) -> QuerySet[Hive]:
    """Hives with their current queen, last inspection and the user's role, in one query."""
    current = QueenBee.objects.filter(hive=OuterRef("pk"), is_current=True)
    last_inspection = Event.objects.filter(
        hive=OuterRef("pk"), type=Event.Type.INSPECTION
    ).order_by("-occurred_at")
    return (
        hive_list_visible(user=user)
        .select_related("apiary")
        .annotate(
            current_queen_id=Subquery(current.values("pk")[:1]),
            current_queen_year=Subquery(current.values("year_born")[:1]),
            current_queen_color=Subquery(current.values("marking_color")[:1]),
            current_queen_origin=Subquery(current.values("origin")[:1]),
            last_inspection_at=Subquery(last_inspection.values("occurred_at")[:1]),
            role=role_annotation(user, "apiary__"),
        )
    )


# hive_list_visible(user).filter(pk=...) written out once: the telemetry reads ask it on
# every request and need only the device_id, and compiling the ORM query would cost more
# than running it. The rule is role_sql's (tests/apiary/test_selectors.py compares the
# two).
_DEVICE_ID_VISIBLE_SQL = (
    f"SELECT h.{_column(Hive, 'device_id')} FROM {HIVE_TABLE} h"
    f" JOIN {APIARY_TABLE} a ON a.id = h.{_column(Hive, 'apiary')}"
    f" WHERE h.id = %(hive)s AND {role_sql(user='%(user)s', apiary='a')}"
)
_DEVICE_ID_SQL = f"SELECT {_column(Hive, 'device_id')} FROM {HIVE_TABLE} WHERE id = %(hive)s"


def hive_device_id_visible(*, user: Any, hive_id: int | str) -> str | None:
    """The device_id of a hive the user may see (hive_get_visible's rule), or None.
    ``hive_id`` may be the URL's digits; one that no id column can hold is no hive (as
    the ORM's empty result), not a database error."""
    connection = connections[router.db_for_read(Hive)]
    low, high = connection.ops.integer_field_range(Hive._meta.pk.get_internal_type())
    try:
        hive_id = int(hive_id)
    except (TypeError, ValueError):
        return None
    if not low <= hive_id <= high:
        return None
    sql = _DEVICE_ID_SQL if _is_superuser(user) else _DEVICE_ID_VISIBLE_SQL
    with connection.cursor() as cursor:
        cursor.execute(sql, {"hive": hive_id, "user": user.pk})
        row = cursor.fetchone()
    return row[0] if row else None


def hive_get_visible(*, user: Any, hive_id: int) -> Hive | None:
    """A hive the user may see (own or shared), or None: another user's hive is
    indistinguishable from none."""
    return hive_list_visible(user=user).select_related("apiary").filter(pk=hive_id).first()


class KeyedDevice(NamedTuple):
    """What a device key unlocks: the hive it writes and that hive's device_id."""

    hive_id: int
    device_id: str


def device_key_cache_key(key_hash: str) -> str:
    """The entities-cache key of a device key's lookup (core.entity_cache)."""
    return f"device-key:{key_hash}"


def device_by_key(*, key: str) -> KeyedDevice | None:
    """The device a key writes, or None for an unknown key; the hottest lookup there is
    (every ingestion request), so known keys are cached (core.entity_cache, one round
    trip on a hit). A replaced key, a deleted hive or a new device_id revokes the entry
    with a tombstone before the change commits (apiary.signals); a tombstoned key is
    read from the database and not cached, and what is read is stored only where no
    entry is (``add``), so the old key is refused once the change commits whatever
    the cache did. Unknown keys are not cached: a new hive's key works at once. A cache
    that is down costs the lookup a query, never the request."""
    if not key:
        return None
    key_hash = device_key_hash(key)
    cache_key = device_key_cache_key(key_hash)
    cached, reachable = entity_cache.lookup(cache_key)
    if cached is not None:
        return KeyedDevice(*cached)
    # From the primary: a key read from a lagging replica (the one just replaced, say)
    # would be cached for ENTITY_CACHE_SECONDS, not for the lag.
    row = (
        Hive.objects.using(DEFAULT_DB)
        .filter(device_key_hash=key_hash)
        .values_list("pk", "device_id")
        .first()
    )
    if row is None:
        return None
    if reachable:
        entity_cache.remember(cache_key, tuple(row))
    return KeyedDevice(*row)


def hives_keyed_by_previous_owner(*, apiary: Apiary) -> QuerySet[Hive]:
    """Hives of ``apiary`` whose device key was issued under someone other than its
    owner (a previous owner after a handover, or a deleted account): whoever that was
    may still know the key."""
    return (
        Hive.objects.filter(apiary=apiary)
        .exclude(device_key_issued_to=apiary.owner_id)
        .select_related("device_key_issued_to")
        .order_by("name", "id")
    )


def queen_list(*, user: Any) -> QuerySet[QueenBee]:
    qs = QueenBee.objects.select_related("hive", "hive__apiary", "mother")
    return qs.filter(visible_q(user, "hive__apiary__"))


def event_list(*, user: Any) -> QuerySet[Event]:
    qs = Event.objects.select_related("hive", "apiary")
    # An event belongs to a hive or to an apiary.
    return qs.filter(visible_q(user, "hive__apiary__") | visible_q(user, "apiary__"))


def member_list(*, apiary: Apiary) -> QuerySet[Membership]:
    """Members and invitations of an apiary (the caller has checked they may see it)."""
    return Membership.objects.filter(apiary=apiary).select_related("user")


# Events that change the weight on the scale: a jump near one is the beekeeper's (the
# alert rules ignore it, the net weight leaves it out). A feeding puts syrup or candy in.
WEIGHT_EVENT_TYPES = (
    Event.Type.HARVEST,
    Event.Type.BOX_ADDED,
    Event.Type.BOX_REMOVED,
    Event.Type.FEEDING,
)


def weight_event_windows(*, device_id: str, start: datetime, end: datetime) -> Explanations:
    """telemetry.selectors.Explanations of the hive with ``device_id`` between ``start``
    and ``end``: its weight events' windows (WEIGHT_EVENT_MARGIN_MINUTES either side) as
    explained, its recorded swarms' as kept."""
    margin = timedelta(minutes=settings.WEIGHT_EVENT_MARGIN_MINUTES)
    events = Event.objects.filter(
        hive__device_id=device_id,
        type__in=[*WEIGHT_EVENT_TYPES, Event.Type.SWARM],
        occurred_at__gte=start - margin,
        occurred_at__lte=end + margin,
    ).values_list("type", "occurred_at")
    explained: list[tuple[datetime, datetime]] = []
    kept: list[tuple[datetime, datetime]] = []
    for event_type, occurred_at in events:
        window = (occurred_at - margin, occurred_at + margin)
        (kept if event_type == Event.Type.SWARM else explained).append(window)
    return Explanations(explained, kept)
