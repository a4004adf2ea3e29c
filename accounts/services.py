"""Writes on user accounts. The API and the admin both go through these functions."""

from __future__ import annotations

from django.apps import apps
from django.contrib.auth.management import create_permissions
from django.contrib.auth.models import Group, Permission
from django.contrib.auth.password_validation import validate_password
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from accounts.models import User, normalize_email

BEEKEEPERS_GROUP = "Beekeepers"
# Every model of this app is beekeeping data a beekeeper manages in the admin.
BEEKEEPING_APP = "apiary"
_ACTIONS = ("add", "change", "delete", "view")

EMAIL_TAKEN = "A user with this email already exists."


def beekeepers_group(*, sync: bool = False) -> Group:
    """The ``Beekeepers`` group, holding every permission on the apiary app's models.

    Permissions are (re)assigned when the group is created or when ``sync`` is true
    (after each migrate), so registration stays cheap.
    """
    group, created = Group.objects.get_or_create(name=BEEKEEPERS_GROUP)
    if created or sync:
        group.permissions.set(_beekeeping_permissions())
    return group


def _beekeeping_permissions() -> list[Permission]:
    app_config = apps.get_app_config(BEEKEEPING_APP)
    # The auth app creates permissions per app after migrate; this may run before it
    # reached the apiary app, and creating them is idempotent.
    create_permissions(app_config, verbosity=0)
    models = list(app_config.get_models())
    content_types = ContentType.objects.get_for_models(*models).values()
    codenames = [f"{action}_{model._meta.model_name}" for model in models for action in _ACTIONS]
    return list(Permission.objects.filter(content_type__in=content_types, codename__in=codenames))


def _email_taken(email: str, *, exclude: User | None = None) -> bool:
    users = User.objects.filter(email=email)
    if exclude is not None:
        users = users.exclude(pk=exclude.pk)
    return users.exists()


def _validate_password(password: str, user: User, *, field: str) -> None:
    try:
        validate_password(password, user=user)
    except ValidationError as exc:
        raise ValidationError({field: exc.messages}) from exc


@transaction.atomic
def user_register(*, email: str, password: str, name: str = "") -> User:
    """Create a beekeeper: an admin-capable (staff) account in the Beekeepers group."""
    user = User(email=normalize_email(email), name=name, is_staff=True)
    _validate_password(password, user, field="password")
    if _email_taken(user.email):
        raise ValidationError({"email": EMAIL_TAKEN})
    user.set_password(password)
    try:
        # A concurrent registration of the same email loses on the unique index.
        with transaction.atomic():
            user.save()
    except IntegrityError as exc:
        raise ValidationError({"email": EMAIL_TAKEN}) from exc
    user.groups.add(beekeepers_group())
    # Apiaries shared with this address before it had an account.
    from apiary.services import invitations_accept  # apiary builds on accounts

    invitations_accept(user=user)
    return user


@transaction.atomic
def user_update(*, user: User, email: str | None = None, name: str | None = None) -> User:
    """Change the profile fields a user may change themselves (``None`` keeps a field)."""
    changed: list[str] = []
    if email is not None:
        email = normalize_email(email)
        if email != user.email:
            if _email_taken(email, exclude=user):
                raise ValidationError({"email": EMAIL_TAKEN})
            user.email = email
            changed.append("email")
    if name is not None and name != user.name:
        user.name = name
        changed.append("name")
    if changed:
        try:
            with transaction.atomic():
                user.save(update_fields=changed)
        except IntegrityError as exc:
            raise ValidationError({"email": EMAIL_TAKEN}) from exc
    return user


@transaction.atomic
def user_change_password(*, user: User, old_password: str, new_password: str) -> User:
    """Set a new password and end every session held by a refresh token.

    Whoever learnt the old password may hold a refresh token; blacklisting them all makes
    the change lock that holder out once their short-lived access token expires.
    """
    if not user.check_password(old_password):
        raise ValidationError({"old_password": "The current password is not correct."})
    _validate_password(new_password, user, field="new_password")
    user.set_password(new_password)
    user.save(update_fields=["password"])
    user_logout_everywhere(user=user)
    return user


@transaction.atomic
def user_logout_everywhere(*, user: User) -> int:
    """Blacklist every refresh token issued to ``user``; returns how many were live."""
    live = OutstandingToken.objects.filter(user=user, blacklistedtoken__isnull=True)
    tokens = [BlacklistedToken(token=token) for token in live]
    BlacklistedToken.objects.bulk_create(tokens, ignore_conflicts=True)
    return len(tokens)


@transaction.atomic
def user_set_password(*, user: User, password: str | None) -> User:
    """Set a user's password for them (the admin's "change password"); ``None`` disables
    signing in with a password. Every session held by a refresh token ends.

    Whoever had the old password may hold a refresh token: an operator resetting it
    because of that must lock them out, as the user's own change does.
    """
    if password is None:
        user.set_unusable_password()
    else:
        _validate_password(password, user, field="password")
        user.set_password(password)
    user.save(update_fields=["password"])
    user_logout_everywhere(user=user)
    return user
