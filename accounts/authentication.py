"""Bearer-token authentication of the API: simplejwt's, with the user read from a cache."""

from __future__ import annotations

from typing import Any

# Not gettext_lazy: the exception makes its detail a string when it is raised, in the
# request's language, and simplejwt's exceptions are typed to take strings.
from django.utils.translation import gettext as _
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import Token
from rest_framework_simplejwt.utils import get_md5_hash_password

from accounts.selectors import user_cache_key
from core import entity_cache
from core.databases import DEFAULT_DB


class CachedUserJWTAuthentication(JWTAuthentication):
    """simplejwt's JWTAuthentication, with the token's user from the entities cache
    (core.entity_cache) when it is there, else from the primary database.

    The primary, not a read replica: a user cached from a lagging replica (say, before
    their deactivation arrived) would stay for ENTITY_CACHE_SECONDS, not for the lag.
    Either way the user passes simplejwt's checks (active, and the password hash when
    CHECK_REVOKE_TOKEN is on); an unknown or inactive user is never cached.
    """

    def get_user(self, validated_token: Token) -> Any:
        try:
            user_id = validated_token[api_settings.USER_ID_CLAIM]
        except KeyError:
            return super().get_user(validated_token)  # its InvalidToken
        user, reachable = entity_cache.lookup(user_cache_key(user_id))
        if user is None:
            try:
                user = self.user_model.objects.using(DEFAULT_DB).get(
                    **{api_settings.USER_ID_FIELD: user_id}
                )
            except self.user_model.DoesNotExist as exc:
                raise AuthenticationFailed(_("User not found"), code="user_not_found") from exc
            if user.is_active and reachable:
                entity_cache.remember(user_cache_key(user_id), user)
        if api_settings.CHECK_USER_IS_ACTIVE and not user.is_active:
            raise AuthenticationFailed(_("User is inactive"), code="user_inactive")
        if api_settings.CHECK_REVOKE_TOKEN and validated_token.get(
            api_settings.REVOKE_TOKEN_CLAIM
        ) != get_md5_hash_password(user.password):
            raise AuthenticationFailed(
                _("The user's password has been changed."), code="password_changed"
            )
        return user


class CachedUserJWTScheme(SimpleJWTScheme):
    """The OpenAPI security scheme of the subclass: the same bearer JWT (``jwtAuth``)."""

    target_class = "accounts.authentication.CachedUserJWTAuthentication"
