"""Sharing an apiary: inviting, changing roles (handing it over), removing members, and
invitations that become memberships once an address is proven."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.models import normalize_email
from apiary.access import Conflict, full_clean_save, require_apiary
from apiary.models import Apiary, Device, Membership, Role
from apiary.notices import announce_on_commit, member_access_revoked

# --- Members ----------------------------------------------------------------------------

MEMBER_ROLES = (Role.VIEWER, Role.EDITOR)


def _role_choice(role: str, allowed: tuple[str, ...]) -> str:
    if role not in allowed:
        raise ValidationError({"role": f"Choose one of {', '.join(allowed)}."})
    return role


@transaction.atomic
def member_invite(*, actor: Any, apiary: Apiary, email: str, role: str) -> Membership:
    """Give ``email`` a role in ``apiary``: a membership when an account has proven that
    address, otherwise an invitation that becomes one when an account verifies it
    (``invitations_accept``). Owner only.

    The result looks the same either way, so inviting reveals nobody's account.
    """
    require_apiary(actor, apiary, needed=Role.OWNER)
    _role_choice(role, MEMBER_ROLES)
    email = normalize_email(email)
    if email == normalize_email(apiary.owner.email):
        raise ValidationError({"email": "This is the apiary's owner."})
    if Membership.objects.filter(apiary=apiary, email=email).exists():
        raise Conflict({"email": "This address is already a member or invited."})
    # Locked: a verification committing meanwhile either is seen here or, waiting for
    # this transaction, accepts the invitation it creates.
    account = get_user_model().objects.select_for_update().filter(email=email).first()
    user = account if account is not None and account.email_verified else None
    membership = Membership(apiary=apiary, user=user, email=email, role=role, invited_by=actor)
    try:
        with transaction.atomic():
            full_clean_save(membership, exclude=["user"])
    except IntegrityError as exc:  # a concurrent invitation of the same address
        raise Conflict({"email": "This address is already a member or invited."}) from exc
    return membership


@transaction.atomic
def member_update(*, actor: Any, membership: Membership, role: str | None = None) -> Membership:
    """Change a member's role (None: no change); ``owner`` hands the apiary over. Owner
    only.

    Handing over makes the member the owner and the previous owner an editor; the
    device ids of the apiary's hives (and so their readings) go to the new owner. The
    hives' device keys stay as they are, marked as issued under the previous owner
    (selectors.hives_keyed_by_previous_owner), who may still know them: the new owner
    replaces them, one by one or all at once (apiary_rotate_device_keys).
    """
    apiary = membership.apiary
    require_apiary(actor, apiary, needed=Role.OWNER)
    if role is None:
        return membership
    _role_choice(role, (*MEMBER_ROLES, Role.OWNER))
    if role != Role.OWNER:
        membership.role = role
        membership.save(update_fields=["role"])
        return membership
    if membership.user is None:
        raise ValidationError(
            {"role": "An invitation cannot own the apiary before it is accepted."}
        )
    Apiary.objects.select_for_update().filter(pk=apiary.pk).first()
    previous = apiary.owner
    apiary.owner = membership.user
    apiary.save(update_fields=["owner", "updated_at"])
    membership.user, membership.email, membership.role = previous, previous.email, Role.EDITOR
    membership.save(update_fields=["user", "email", "role"])
    Device.objects.filter(device_id__in=apiary.hives.values("device_id")).update(owner=apiary.owner)
    return membership


@transaction.atomic
def member_remove(*, actor: Any, membership: Membership) -> None:
    """Remove a member or an invitation (owner), or leave an apiary (the member).

    Takes effect at once: the member's next request is a 404, and their open live
    streams of the apiary's hives close (4404) when this commits.
    """
    leaving = membership.user_id is not None and membership.user_id == getattr(actor, "pk", None)
    if not leaving:
        require_apiary(actor, membership.apiary, needed=Role.OWNER)
    apiary_id, user_id = membership.apiary_id, membership.user_id
    membership.delete()
    if user_id is not None:
        announce_on_commit(member_access_revoked, apiary_id=apiary_id, user_id=user_id)


def invitations_accept(*, user: Any) -> int:
    """Turn the invitations of ``user``'s email into memberships, once the account has
    proven the address (apiary.signals, on accounts' ``email_verified``)."""
    if not user.email_verified:
        return 0
    invitations = Membership.objects.filter(user__isnull=True, email=normalize_email(user.email))
    # An account that changed its address may already be in (or own) an apiary that also
    # invited the new one: that invitation stays for the owner to remove.
    invitations = invitations.exclude(apiary__memberships__user=user).exclude(apiary__owner=user)
    return invitations.update(user=user)
