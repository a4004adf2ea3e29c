"""Writes on user accounts. The API and the admin both go through these functions."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from django.apps import apps
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.contrib.auth.management import create_permissions
from django.contrib.auth.models import Group, Permission
from django.contrib.auth.password_validation import validate_password
from django.contrib.contenttypes.models import ContentType
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.template.loader import render_to_string
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from accounts.models import User, normalize_email
from accounts.signals import email_verified
from core.validators import time_zone_names, validate_time_zone

logger = logging.getLogger(__name__)

BEEKEEPERS_GROUP = "Beekeepers"
# Every model of this app is beekeeping data a beekeeper manages in the admin.
BEEKEEPING_APP = "apiary"
_ACTIONS = ("add", "change", "delete", "view")

EMAIL_TAKEN = "A user with this email already exists."
ALREADY_VERIFIED = "This address is already verified."
_VERIFY_SALT = "accounts.email-verification"


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
def user_register(
    *, email: str, password: str, name: str = "", email_verified: bool = False
) -> User:
    """Create a beekeeper: an admin-capable (staff) account in the Beekeepers group.

    ``email_verified``: whoever creates the account vouches for the address (a command
    run by the operator); then its invitations become memberships at once. Otherwise
    the address is proven by the link of ``email_verification_send``.
    """
    user = User(email=normalize_email(email), name=name, is_staff=True)
    _validate_password(password, user, field="password")
    if _email_taken(user.email):
        raise ValidationError({"email": EMAIL_TAKEN})
    user.set_password(password)
    return _user_create(user, verified=email_verified)


def _user_create(user: User, *, verified: bool) -> User:
    user.email_verified = verified
    try:
        # A concurrent registration of the same email loses on the unique index.
        with transaction.atomic():
            user.save()
            user.groups.add(beekeepers_group())
            if verified:
                _announce_verified(user)
    except IntegrityError as exc:
        raise ValidationError({"email": EMAIL_TAKEN}) from exc
    return user


def _announce_verified(user: User) -> None:
    # Apps above accounts react (apiary turns the address's invitations into memberships).
    email_verified.send(sender=User, user=user)


def user_signup(*, email: str, password: str, name: str = "", base_url: str) -> None:
    """Public registration (``POST /auth/register``): the caller learns nothing about
    whether the address has an account.

    A new address gets an account and a verification link; a taken one gets an email
    telling its owner that someone tried to register with it. Both paths validate and
    hash the password and send one email, so neither the answer nor its time tells them
    apart. Raises ValidationError only for input that is wrong whoever owns the address.
    """
    user = User(email=normalize_email(email), name=name, is_staff=True)
    _validate_password(password, user, field="password")
    user.password = make_password(password)
    existing = User.objects.filter(email=user.email).first()
    if existing is None:
        try:
            _user_create(user, verified=False)
        except ValidationError:  # registered concurrently: that account's owner is told
            existing = User.objects.filter(email=user.email).first()
        else:
            email_verification_send(user=user, base_url=base_url)
            return
    if existing is not None:
        _send(
            existing.email,
            "accounts/email/register_taken",
            {"user": existing, "base_url": base_url},
        )


def public_base_url(request: HttpRequest) -> str:
    """Where links in mail point: PUBLIC_BASE_URL, else the request's scheme and host
    (its Host header was checked against ALLOWED_HOSTS)."""
    return settings.PUBLIC_BASE_URL or request.build_absolute_uri("/").rstrip("/")


def email_verification_token(*, user: User) -> str:
    """A signed, time-limited token for ``user``'s current address.

    It names the address, so it proves nothing once the account's email has changed;
    it expires after EMAIL_VERIFICATION_HOURS.
    """
    return signing.dumps({"user": user.pk, "email": user.email}, salt=_VERIFY_SALT)


def email_verification_send(*, user: User, base_url: str) -> bool:
    """Email ``user`` a link that proves their address; False when the mail could not
    be sent (logged). Raises ValidationError when the address is already verified."""
    if user.email_verified:
        raise ValidationError({"email": ALREADY_VERIFIED})
    query = urlencode({"token": email_verification_token(user=user)})
    context = {
        "user": user,
        "link": f"{base_url}/auth/verify?{query}",
        "hours": settings.EMAIL_VERIFICATION_HOURS,
    }
    return _send(user.email, "accounts/email/verify", context)


def _send(address: str, template: str, context: dict[str, Any]) -> bool:
    subject = render_to_string(f"{template}_subject.txt", context).strip()
    body = render_to_string(f"{template}.txt", context)
    try:
        send_mail(subject, body, None, [address])
    except OSError:  # smtplib's errors are OSErrors: the account stays, a resend may work
        logger.exception("could not send %s to an account's address", template)
        return False
    return True


@transaction.atomic
def email_verify(*, token: str) -> User:
    """Mark the address a verification token was made for as proven; its invitations
    become memberships (the ``email_verified`` signal). Verifying twice is harmless.

    The token must be intact, younger than EMAIL_VERIFICATION_HOURS, and for the
    account's current address; otherwise ValidationError naming ``token``.
    """
    max_age = timedelta(hours=settings.EMAIL_VERIFICATION_HOURS)
    try:
        payload = signing.loads(token, salt=_VERIFY_SALT, max_age=max_age)
    except signing.SignatureExpired as exc:
        raise ValidationError(
            {"token": "This link has expired. Sign in and ask for a new one."}
        ) from exc
    except signing.BadSignature as exc:
        raise ValidationError({"token": "This link is not valid."}) from exc
    user_id = payload.get("user") if isinstance(payload, dict) else None
    email = payload.get("email") if isinstance(payload, dict) else None
    user = User.objects.select_for_update().filter(pk=user_id).first() if user_id else None
    if user is None or not isinstance(email, str):
        raise ValidationError({"token": "This link is not valid."})
    if user.email != email:
        raise ValidationError(
            {"token": "This link was sent to another address than the account's own."}
        )
    if not user.email_verified:
        user.email_verified = True
        user.save(update_fields=["email_verified"])
        _announce_verified(user)
    return user


def _validate_time_zone(time_zone: str) -> None:
    if time_zone:  # empty: not chosen (the console takes the browser's)
        try:
            validate_time_zone(time_zone)
        except ValidationError as exc:
            raise ValidationError({"time_zone": exc.messages}) from exc


def user_update(
    *,
    user: User,
    email: str | None = None,
    name: str | None = None,
    time_zone: str | None = None,
    base_url: str = "",
) -> User:
    """Change the profile fields a user may change themselves (``None`` keeps a field).

    A new email is unproven: the account is unverified until the link sent to the new
    address (links to ``base_url``) is followed. ``time_zone``: an IANA name, or empty
    for none chosen; ValidationError naming ``time_zone`` for a name nobody knows.
    """
    changed: list[str] = []
    if time_zone is not None:
        _validate_time_zone(time_zone)
        if time_zone != user.time_zone:
            user.time_zone = time_zone
            changed.append("time_zone")
    if email is not None:
        email = normalize_email(email)
        if email != user.email:
            if _email_taken(email, exclude=user):
                raise ValidationError({"email": EMAIL_TAKEN})
            user.email, user.email_verified = email, False
            changed += ["email", "email_verified"]
    if name is not None and name != user.name:
        user.name = name
        changed.append("name")
    if changed:
        try:
            with transaction.atomic():
                user.save(update_fields=changed)
        except IntegrityError as exc:
            raise ValidationError({"email": EMAIL_TAKEN}) from exc
    if "email" in changed:
        email_verification_send(user=user, base_url=base_url)
    return user


def user_time_zone_default(*, user: User, browser_zone: str) -> bool:
    """Give a user who has chosen no time zone their browser's (the console reports it
    on every page until then); True when it was set. An unknown name is ignored: it
    comes from a cookie, not from the user."""
    if user.time_zone or browser_zone not in time_zone_names():
        return False
    user.time_zone = browser_zone
    user.save(update_fields=["time_zone"])
    return True


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
