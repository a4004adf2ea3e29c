"""Authentication and origin checks for WebSockets.

A JWT access token may come as ``?token=`` (browsers cannot set headers on WebSockets)
or as ``Authorization: Bearer``; otherwise the Django session cookie (Channels'
AuthMiddlewareStack) identifies the user. The token's expiry is kept in the scope so the
consumer can close the socket when it passes: Channels authenticates only at connect.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from channels.auth import AuthMiddleware
from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from channels.security.websocket import OriginValidator
from channels.sessions import CookieMiddleware, InstanceSessionWrapper, SessionMiddleware
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from rest_framework_simplejwt.exceptions import AuthenticationFailed, TokenError
from rest_framework_simplejwt.tokens import AccessToken

from accounts.authentication import CachedUserJWTAuthentication


def _token_from(scope: dict[str, Any]) -> str | None:
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    if query.get("token"):
        return query["token"][0]
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, credentials = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and credentials:
                return credentials.strip()
    return None


def user_for_token(raw_token: str) -> tuple[Any, int | None]:
    """The token's user as the API finds it (from the entities cache, with the same
    checks), and the token's expiry; an anonymous user and None for a bad token."""
    try:
        token = AccessToken(raw_token)
        user = CachedUserJWTAuthentication().get_user(token)
    except (TokenError, AuthenticationFailed):
        return AnonymousUser(), None
    return user, int(token["exp"])


_user_for = database_sync_to_async(user_for_token)


class JWTAuthMiddleware(BaseMiddleware):
    """Sets ``scope["user"]`` from a JWT when one is given; a bad token marks the scope
    ``auth_failed`` so the consumer refuses it even if a session cookie came along."""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        raw = _token_from(scope)
        if raw is not None:
            user, expires = await _user_for(raw)
            scope = {**scope, "user": user, "token_exp": expires, "auth_failed": expires is None}
        return await super().__call__(scope, receive, send)


class ConnectSessionMiddleware(SessionMiddleware):
    """Channels' SessionMiddleware for sockets, which read the session once, at connect,
    to find the user: the socket's send passes straight through.

    Channels wraps send to save the session and set its cookie on an
    ``http.response.start``, which a WebSocket never sends, but it inspects the session
    on every message first: a cost per frame, paid by every socket of a fan-out.
    """

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        wrapper = InstanceSessionWrapper(scope, send)
        await wrapper.resolve_session()
        return await self.inner(wrapper.scope, receive, send)


class BrowserOriginValidator(OriginValidator):
    """Browsers send Origin and must come from an allowed host (the session cookie would
    otherwise let any site open a socket as the user). Clients without an Origin header
    are not browsers and authenticate with a token."""

    def valid_origin(self, parsed_origin: Any) -> bool:
        if parsed_origin is None:
            return True
        return self.validate_origin(parsed_origin)


def websocket_stack(inner: Any) -> Any:
    allowed = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not allowed:
        allowed = ["localhost", "127.0.0.1", "[::1]"]
    # Channels' AuthMiddlewareStack, with the session middleware above.
    stack = CookieMiddleware(ConnectSessionMiddleware(AuthMiddleware(JWTAuthMiddleware(inner))))
    return BrowserOriginValidator(stack, allowed)
