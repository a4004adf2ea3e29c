"""Account endpoints: registration and address verification, JWT login/refresh/logout,
the user's own profile."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.signals import user_logged_in
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import APIException
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from accounts import services
from accounts.api.serializers import (
    DetailOutputSerializer,
    LogoutInputSerializer,
    PasswordChangeInputSerializer,
    RegisterInputSerializer,
    RegisterOutputSerializer,
    TokenObtainInputSerializer,
    TokenPairOutputSerializer,
    TokenRefreshInputSerializer,
    UserOutputSerializer,
    UserUpdateInputSerializer,
    VerifyInputSerializer,
    VerifyOutputSerializer,
)
from accounts.api.throttles import AuthRateThrottle
from accounts.models import User, normalize_email
from core.strict import StrictQueryMixin

_BAD_INPUT = OpenApiResponse(description="Invalid input; the body names each failing field.")
_BAD_TOKEN = OpenApiResponse(description="The token is invalid, expired or blacklisted.")
_THROTTLED = OpenApiResponse(description="Too many attempts; see the Retry-After header.")
_ANONYMOUS = OpenApiResponse(description="Authentication credentials were not provided.")
_BAD_LINK = OpenApiResponse(
    description="The token is missing, not valid, expired, or for another address than "
    "the account's (the body names `token`)."
)

REGISTER_DETAIL = "Check your inbox: we sent a link to verify this address."
VERIFIED_DETAIL = "Address verified."
RESENT_DETAIL = "Check your inbox: we sent a new link to verify this address."


def _signed_in(request: Request) -> User:
    """The user of a view that requires IsAuthenticated: DRF checked it before the handler."""
    user = request.user
    assert isinstance(user, User)
    return user


@contextmanager
def _service_errors() -> Iterator[None]:
    """Services raise Django's ValidationError; the API answers it as a 400 naming fields."""
    try:
        yield
    except DjangoValidationError as exc:
        raise serializers.ValidationError(serializers.as_serializer_error(exc)) from exc


class RegisterView(StrictQueryMixin, APIView):
    schema_anonymous = True  # no credentials, so no 401
    authentication_classes = ()
    permission_classes = (AllowAny,)
    throttle_classes = (AuthRateThrottle,)
    throttle_scope = "auth"

    @extend_schema(
        tags=["auth"],
        summary="Register a beekeeper account",
        description="Answers the same whether or not the address has an account: a new "
        "address gets a link to verify it (GET /auth/verify), a taken one an email telling "
        "its owner. The account can sign in at once; apiaries shared with the address "
        "become visible once it is verified.",
        request=RegisterInputSerializer,
        responses={201: RegisterOutputSerializer, 400: _BAD_INPUT, 429: _THROTTLED},
    )
    def post(self, request: Request) -> Response:
        data = RegisterInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        with _service_errors():
            services.user_signup(**data.validated_data, base_url=services.public_base_url(request))
        body = {
            "email": normalize_email(data.validated_data["email"]),
            "name": data.validated_data["name"],
            "detail": REGISTER_DETAIL,
        }
        return Response(body, status=status.HTTP_201_CREATED)


class VerifyEmailView(StrictQueryMixin, APIView):
    # The token is the credential: the link works in any browser, signed in or not.
    schema_anonymous = True
    authentication_classes = ()
    permission_classes = (AllowAny,)

    def allowed_query_params(self, request: Request) -> set[str]:
        return {"token"} if request.method in ("GET", "HEAD") else set()

    @extend_schema(
        tags=["auth"],
        summary="Verify an email address: the link sent by mail",
        description="Answers JSON, like POST. Apiaries shared with the address become "
        "memberships of the account.",
        parameters=[VerifyInputSerializer],
        responses={200: VerifyOutputSerializer, 400: _BAD_LINK},
    )
    def get(self, request: Request) -> Response:
        return self._verify(request.query_params)

    @extend_schema(
        tags=["auth"],
        summary="Verify an email address with the token of the link sent by mail",
        request=VerifyInputSerializer,
        responses={200: VerifyOutputSerializer, 400: _BAD_LINK},
    )
    def post(self, request: Request) -> Response:
        return self._verify(request.data)

    def _verify(self, raw: Any) -> Response:
        data = VerifyInputSerializer(data=raw)
        data.is_valid(raise_exception=True)
        with _service_errors():
            user = services.email_verify(token=data.validated_data["token"])
        body = {"email": user.email, "email_verified": True, "detail": VERIFIED_DETAIL}
        return Response(body)


class MailUnavailable(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The email could not be sent. Try again later."
    default_code = "mail_unavailable"


class VerifyResendView(StrictQueryMixin, APIView):
    permission_classes = (IsAuthenticated,)
    throttle_classes = (AuthRateThrottle,)
    throttle_scope = "auth"

    @extend_schema(
        tags=["auth"],
        summary="Send a new link to verify the signed-in user's address",
        request=None,
        responses={
            200: DetailOutputSerializer,
            400: OpenApiResponse(description="The address is already verified (names `email`)."),
            401: _ANONYMOUS,
            429: _THROTTLED,
            503: OpenApiResponse(description="The email could not be sent."),
        },
    )
    def post(self, request: Request) -> Response:
        with _service_errors():
            sent = services.email_verification_send(
                user=_signed_in(request), base_url=services.public_base_url(request)
            )
        if not sent:
            raise MailUnavailable()
        return Response({"detail": RESENT_DETAIL})


@extend_schema(
    tags=["auth"],
    summary="Log in: exchange email and password for an access and a refresh token",
    responses={
        200: TokenPairOutputSerializer,
        401: OpenApiResponse(description="Wrong email or password."),
        429: _THROTTLED,
    },
)
class TokenObtainView(StrictQueryMixin, TokenObtainPairView):
    serializer_class = TokenObtainInputSerializer
    throttle_classes = (AuthRateThrottle,)
    throttle_scope = "auth"

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = TokenObtainInputSerializer(
            data=request.data, context=self.get_serializer_context()
        )
        try:
            serializer.is_valid(raise_exception=True)
        except TokenError as exc:
            raise InvalidToken(exc.args[0]) from exc
        # A sign-in, as the admin's login sends it: the lockout (django-axes) resets this
        # account's failure count, as it does after an admin sign-in.
        user_logged_in.send(sender=type(serializer.user), request=request, user=serializer.user)
        return Response(serializer.validated_data, status=status.HTTP_200_OK)


@extend_schema(
    tags=["auth"],
    summary="Exchange a refresh token for a new access and refresh token",
    description="The refresh token sent is blacklisted: each one can be used once.",
    responses={200: TokenPairOutputSerializer, 401: _BAD_TOKEN},
)
class TokenRefreshRotateView(StrictQueryMixin, TokenRefreshView):
    serializer_class = TokenRefreshInputSerializer


class LogoutView(StrictQueryMixin, APIView):
    # Holding the refresh token is the credential: the access token may have expired.
    authentication_classes = ()
    permission_classes = (AllowAny,)

    def get_authenticate_header(self, request: Request) -> str:
        # Without one DRF turns a 401 into 403; a bad token is a 401 as on /auth/token/refresh.
        return f'{jwt_settings.AUTH_HEADER_TYPES[0]} realm="api"'

    @extend_schema(
        tags=["auth"],
        summary="Log out: blacklist a refresh token",
        request=LogoutInputSerializer,
        responses={205: None, 400: _BAD_INPUT, 401: _BAD_TOKEN},
    )
    def post(self, request: Request) -> Response:
        data = LogoutInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            RefreshToken(data.validated_data["refresh"]).blacklist()
        except TokenError as exc:
            raise InvalidToken(exc.args[0]) from exc
        return Response(status=status.HTTP_205_RESET_CONTENT)


class MeView(StrictQueryMixin, APIView):
    permission_classes = (IsAuthenticated,)
    http_method_names = ["get", "patch", "head", "options"]

    @extend_schema(
        tags=["users"],
        summary="The signed-in user",
        responses={200: UserOutputSerializer, 401: _ANONYMOUS},
    )
    def get(self, request: Request) -> Response:
        return Response(UserOutputSerializer(request.user).data)

    @extend_schema(
        tags=["users"],
        summary="Change the signed-in user's email, name or time zone",
        description="A new email is unverified until the link sent to it is followed. "
        "An unknown time zone is a 400 naming `time_zone`.",
        request=UserUpdateInputSerializer,
        responses={200: UserOutputSerializer, 400: _BAD_INPUT, 401: _ANONYMOUS},
    )
    def patch(self, request: Request) -> Response:
        data = UserUpdateInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        with _service_errors():
            user = services.user_update(
                user=_signed_in(request),
                **data.validated_data,
                base_url=services.public_base_url(request),
            )
        return Response(UserOutputSerializer(user).data)


class PasswordChangeView(StrictQueryMixin, APIView):
    permission_classes = (IsAuthenticated,)

    @extend_schema(
        tags=["users"],
        summary="Change the signed-in user's password",
        description="Every refresh token of the user is blacklisted: other sessions end.",
        request=PasswordChangeInputSerializer,
        responses={204: None, 400: _BAD_INPUT, 401: _ANONYMOUS},
    )
    def post(self, request: Request) -> Response:
        data = PasswordChangeInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = _signed_in(request)
        with _service_errors():
            services.user_change_password(user=user, **data.validated_data)
        if isinstance(request.successful_authenticator, SessionAuthentication):
            # A new password invalidates sessions; keep this browser's session signed in.
            update_session_auth_hash(request, user)
        return Response(status=status.HTTP_204_NO_CONTENT)
