"""The permission matrix's rows for accounts: registration, verification, tokens, the
user's own account, and the superuser-only admin consoles of accounts, groups, tokens and
sign-in lockout records (django-axes)."""

from __future__ import annotations

from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import User
from tests.security.matrix.table import (
    FORBIDDEN,
    LOGIN,
    OK,
    REDIRECT,
    REFUSED,
    UNAUTH,
    Call,
    R,
    Row,
    password_changed_to,
)


def token_of_requester(c: Call) -> None:
    assert str(AccessToken(c.json()["access"])["user_id"]) == str(c.user.pk)


def refresh_blacklisted(c: Call) -> None:
    assert BlacklistedToken.objects.filter(token__jti=c.ctx["refresh_jti"]).exists()


def is_requester(c: Call) -> None:
    assert c.json()["email"] == c.user.email


def only_requester_renamed(c: Call) -> None:
    names = dict(User.objects.values_list("email", "name"))
    for role, user in c.world.users.items():
        if user is not None:
            expected = "renamed" if role == c.role else user.name
            assert names[user.email] == expected, role


def registered(c: Call) -> None:
    assert User.objects.filter(email=f"{c.role}-new@example.com", is_staff=True).exists()


def verified_requester(c: Call) -> None:
    assert c.json()["email"] == c.user.email
    assert User.objects.get(pk=c.user.pk).email_verified


def _superuser_only_admin(model: str, key: str, *, extra: tuple[str, ...] = ()) -> list[Row]:
    """Consoles only superusers use (accounts, groups, tokens, sign-in records):
    beekeepers, alice included, get 403; the object id must not matter."""
    base = f"/admin/{model}"
    obj = f"{base}/{{{key}}}"
    rows = [
        # method  path                 alice      bob        charlie    dave       erin       anonymous
        R("GET",  f"{base}/",          FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, LOGIN),
        R("GET",  f"{base}/add/",      FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, LOGIN),
        R("POST", f"{base}/add/",      FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, LOGIN, body={}),
        R("GET",  f"{obj}/change/",    FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, LOGIN),
        R("POST", f"{obj}/change/",    FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, LOGIN, body={}),
        R("GET",  f"{obj}/delete/",    FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, LOGIN),
        R("POST", f"{obj}/delete/",    FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, LOGIN,
          body={"post": "yes"}),
        R("GET",  f"{obj}/history/",   FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, LOGIN),
        R("GET",  f"{obj}/",           REDIRECT,  REDIRECT,  REDIRECT,  REDIRECT,  REDIRECT,  LOGIN,
          location=f"{obj}/change/"),
    ]  # fmt: skip
    rows += [
        R("GET", f"{obj}/{tail}", FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, LOGIN)
        for tail in extra
    ]
    return rows


ROWS: list[Row] = [
    # ---- Self-scoped: everyone may call them, each about themselves ---------------------
    # method    path                          alice     bob       charlie   dave          erin         anonymous
    R("POST",   "/auth/register",             OK,       OK,       OK,       OK,           OK,          OK, check=registered,
      body={"email": "{role}-new@example.com", "password": "a-new-hive-frame-77"}),
    R("GET",    "/auth/verify?token={verify_token}", OK, OK,    OK,       OK,           OK,          REFUSED,
      check=verified_requester, note="own link; anonymous: a forged token"),
    R("POST",   "/auth/verify",               OK,       OK,       OK,       OK,           OK,          REFUSED, ok=200,
      body={"token": "{verify_token}"}, check=verified_requester,
      note="own link; anonymous: a forged token"),
    R("POST",   "/auth/verify/resend",        REFUSED,  REFUSED,  REFUSED,  REFUSED,      REFUSED,     UNAUTH,
      note="every role's address is already verified"),
    R("POST",   "/auth/token",                OK,       OK,       OK,       OK,           OK,          UNAUTH, ok=200,
      body={"email": "{email}", "password": "{password}"}, check=token_of_requester,
      note="own credentials; anonymous: alice's email, wrong password"),
    R("POST",   "/auth/token/refresh",        OK,       OK,       OK,       OK,           OK,          UNAUTH, ok=200,
      body={"refresh": "{refresh}"}, check=token_of_requester),
    R("POST",   "/auth/logout",               OK,       OK,       OK,       OK,           OK,          UNAUTH, ok=205,
      body={"refresh": "{refresh}"}, check=refresh_blacklisted),
    R("GET",    "/users/me",                  OK,       OK,       OK,       OK,           OK,          UNAUTH, check=is_requester),
    R("PATCH",  "/users/me",                  OK,       OK,       OK,       OK,           OK,          UNAUTH,
      body={"name": "renamed"}, check=only_requester_renamed),
    R("POST",   "/users/me/password",         OK,       OK,       OK,       OK,           OK,          UNAUTH, ok=204,
      body={"old_password": "{password_ok}", "new_password": "a-new-hive-frame-77"},
      check=password_changed_to("a-new-hive-frame-77")),

    # ---- The admin: consoles only superusers use ------------------------------------------
    *_superuser_only_admin("accounts/user", "alice_user", extra=("password/",)),
    *_superuser_only_admin("auth/group", "group"),
    *_superuser_only_admin("token_blacklist/outstandingtoken", "alice_token"),
    *_superuser_only_admin("token_blacklist/blacklistedtoken", "alice_blacklisted"),
    # Sign-in lockout records (django-axes) of alice's account.
    *_superuser_only_admin("axes/accessattempt", "alice_attempt"),
    *_superuser_only_admin("axes/accesslog", "alice_access"),
    *_superuser_only_admin("axes/accessfailurelog", "alice_failure"),
]  # fmt: skip
