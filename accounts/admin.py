"""User administration: a superuser-only console; beekeepers never see other accounts."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminPasswordChangeForm as DjangoAdminPasswordChangeForm
from django.contrib.auth.forms import BaseUserCreationForm
from django.contrib.auth.forms import UserChangeForm as DjangoUserChangeForm
from django.http import HttpRequest

from accounts import services
from accounts.models import User, normalize_email


class UserCreationForm(BaseUserCreationForm):
    class Meta:
        model = User
        fields = ("email", "name")

    def clean_email(self) -> str:
        # Normalised before the unique check, so "Alice@X" collides with "alice@x".
        return normalize_email(self.cleaned_data["email"])


class UserChangeForm(DjangoUserChangeForm):
    class Meta:
        model = User
        fields = "__all__"

    def clean_email(self) -> str:
        return normalize_email(self.cleaned_data["email"])


class AdminPasswordChangeForm(DjangoAdminPasswordChangeForm):
    """A superuser sets a user's password (or disables it) through user_set_password, so
    the user's refresh tokens stop working with the old password."""

    def save(self, commit: bool = True) -> User:
        # Always saved: the password and the end of the old sessions go together. The
        # form has already checked the password with the validators the service uses.
        usable = self.cleaned_data["set_usable_password"]
        password = self.cleaned_data["password1"] if usable else None
        return services.user_set_password(user=self.user, password=password)


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    change_password_form = AdminPasswordChangeForm
    fieldsets = (
        (None, {"fields": ("email", "email_verified", "password")}),
        ("Profile", {"fields": ("name",)}),
        (
            "Permissions",
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (
            None,
            {"classes": ("wide",), "fields": ("email", "name", "password1", "password2")},
        ),
    )
    list_display = (
        "email",
        "name",
        "email_verified",
        "is_staff",
        "is_superuser",
        "is_active",
        "date_joined",
    )
    list_filter = ("email_verified", "is_staff", "is_superuser", "is_active", "groups")
    search_fields = ("email", "name")
    ordering = ("email",)
    # Proven by the link sent to the address only; a changed address is unproven again.
    readonly_fields = ("email_verified", "last_login", "date_joined")

    # Staff accounts are beekeepers: even a stray "change user" permission must not let
    # one of them edit accounts (or make themselves superuser).
    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self.has_module_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request)

    def save_form(self, request: HttpRequest, form: forms.ModelForm, change: bool) -> Any:
        if change:
            return super().save_form(request, form, change)
        # A user added here is a beekeeper exactly like a registered one (staff, group).
        user = services.user_register(
            email=form.cleaned_data["email"],
            password=form.cleaned_data["password1"],
            name=form.cleaned_data.get("name", ""),
        )
        # The operator typed the address; its owner proves it.
        services.email_verification_send(user=user, base_url=services.public_base_url(request))
        return user

    def save_model(
        self, request: HttpRequest, obj: User, form: forms.ModelForm, change: bool
    ) -> None:
        if not change:  # an added user was saved by user_register in save_form
            return
        new_address = "email" in form.changed_data
        if new_address:
            obj.email_verified = False
        super().save_model(request, obj, form, change)
        if new_address:
            services.email_verification_send(user=obj, base_url=services.public_base_url(request))

    def save_related(
        self, request: HttpRequest, form: forms.ModelForm, formsets: Any, change: bool
    ) -> None:
        if change:
            super().save_related(request, form, formsets, change)
            return
        # The add form has no relations to save, and was never saved itself (user_register
        # was), so it has no save_m2m: only the inlines' formsets are saved, as Django does.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)
