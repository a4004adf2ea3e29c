"""Account routes; each works with and without a trailing slash."""

from django.urls import re_path

from accounts.api import views

urlpatterns = [
    re_path(r"^auth/register/?$", views.RegisterView.as_view(), name="auth-register"),
    re_path(r"^auth/verify/?$", views.VerifyEmailView.as_view(), name="auth-verify"),
    re_path(r"^auth/verify/resend/?$", views.VerifyResendView.as_view(), name="auth-verify-resend"),
    re_path(r"^auth/token/?$", views.TokenObtainView.as_view(), name="auth-token"),
    re_path(
        r"^auth/token/refresh/?$",
        views.TokenRefreshRotateView.as_view(),
        name="auth-token-refresh",
    ),
    re_path(r"^auth/logout/?$", views.LogoutView.as_view(), name="auth-logout"),
    re_path(r"^users/me/?$", views.MeView.as_view(), name="users-me"),
    re_path(r"^users/me/password/?$", views.PasswordChangeView.as_view(), name="users-me-password"),
]
