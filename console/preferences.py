"""The signed-in user's own settings in the console: their time zone, the one the
console's pages and the alert emails show times in (accounts.middleware)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.admin import AdminSite
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from accounts.services import user_update
from core.validators import time_zone_names


def _zone_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in sorted(time_zone_names())]


class TimeZoneForm(forms.Form):
    time_zone = forms.ChoiceField(
        label="Time zone",
        choices=_zone_choices,
        help_text="Pages and alert emails show times in this zone, and the times you type "
        "into forms are read in it. The API keeps answering in UTC.",
    )


def time_zone_view(request: HttpRequest, site: AdminSite) -> HttpResponse:
    """GET: the form, with the user's zone chosen; POST: save it (accounts.services)."""
    user = request.user
    assert isinstance(user, User)  # admin_view lets staff users in only
    form = TimeZoneForm(
        request.POST or None, initial={"time_zone": timezone.get_current_timezone_name()}
    )
    if request.method == "POST" and form.is_valid():
        try:
            user_update(user=user, time_zone=form.cleaned_data["time_zone"])
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"Times are now shown in {user.time_zone}.")
            return HttpResponseRedirect(reverse("admin:time_zone", current_app=site.name))
    context = {
        **site.each_context(request),
        "title": "Your time zone",
        "form": form,
    }
    return TemplateResponse(request, "console/time_zone.html", context)
