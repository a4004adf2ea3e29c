"""Alerts in the beekeeper's console: each beekeeper sees only their own alerts, rules and
webhooks (alerts.selectors); superusers see everyone's.

As in apiary.admin, writes go through alerts.services (core.admin.ServiceAdminMixin):
rule and webhook forms dry-run the service call their save makes, so a refused parameter
or an internal webhook address is an error on the form, and deletes call the delete
services. Alerts themselves are read-only; the one thing a beekeeper does to them is
acknowledge: selected ones from the list, or one with the button on its page and on the
overview (acknowledge_view). A rule's parameters are a form field each
(alerts.rule_forms), and an alert's values are shown in words (alerts.values).

Who may use these pages: beekeepers (the Beekeepers group) and superusers. The group's
Django permissions cover the apiary app only, so the permission methods here grant the
pages to beekeepers themselves; what they see is their own rows, whatever they ask for.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import SafeString

from accounts.services import BEEKEEPERS_GROUP
from alerts import selectors, services
from alerts import values as alert_values
from alerts.models import Alert, AlertRule, Status, Webhook
from alerts.rule_forms import AlertRuleAdminForm, param_fieldsets, params_pairs, params_text
from apiary import selectors as apiary_selectors
from core.admin import (
    ServiceAdminMixin,
    ServiceModelForm,
    cleaned_fields,
    labelled_html,
    object_view_path,
    service_error_messages,
)
from core.times import local_text

# --- Who may use these pages ------------------------------------------------------------


def _is_beekeeper(request: HttpRequest) -> bool:
    """An active staff user in the Beekeepers group, or a superuser (once per request)."""
    user = request.user
    if not (user.is_active and user.is_staff):
        return False
    if user.is_superuser:
        return True
    cached = getattr(request, "_alerts_is_beekeeper", None)
    if cached is None:
        cached = user.groups.filter(name=BEEKEEPERS_GROUP).exists()
        request._alerts_is_beekeeper = cached  # type: ignore[attr-defined]
    return cached


def _owns(request: HttpRequest, obj: Any) -> bool:
    """No object (a list, an add page), the user's own row, or any row for a superuser."""
    return obj is None or request.user.is_superuser or obj.user_id == request.user.pk


class OwnRowsAdminMixin:
    """Rows that belong to one user (``user``): a beekeeper sees their own only.

    ``own_rows(user)`` is the queryset of what a (non-superuser) beekeeper sees.

    Deleting: the admin refuses to delete a hive or an apiary when a registered model's
    ``has_delete_permission`` says no to any row the deletion cascades to; those rows
    include other beekeepers' rules and alerts on the hive. The hive's services decide
    who may delete it, so these admins do not veto that (``has_delete_permission`` does
    not look at the owner); direct deletes go through the delete services, which do.
    """

    def own_rows(self, user: Any) -> QuerySet:
        raise NotImplementedError

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        qs = super().get_queryset(request)  # type: ignore[misc]
        return qs if request.user.is_superuser else self.own_rows(request.user)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _is_beekeeper(request) or super().has_module_permission(request)  # type: ignore[misc]

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        allowed = _is_beekeeper(request) or super().has_view_permission(request, obj)  # type: ignore[misc]
        return allowed and _owns(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return _is_beekeeper(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # The services change the actor's own rows only: a superuser reads the others.
        return _is_beekeeper(request) and (obj is None or obj.user_id == request.user.pk)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _is_beekeeper(request)


# --- Alerts -----------------------------------------------------------------------------


@admin.register(Alert)
class AlertAdmin(OwnRowsAdminMixin, admin.ModelAdmin):
    list_display = ["message", "hive", "kind", "status", "started_at", "resolved_at"]
    list_select_related = ["hive", "rule"]
    list_filter = ["status", "kind", "started_at"]
    search_fields = ["message", "hive__name"]
    fields: ClassVar[list[Any]] = [
        "message",
        "hive",
        "kind",
        "status",
        "started_at",
        "acknowledged_at",
        "resolved_at",
        "values_list",
        "rule",
    ]
    readonly_fields = fields
    actions = ["acknowledge"]
    # The page has an "Acknowledge" button (a POST to acknowledge_view) while it is open.
    change_form_template = "admin/alerts/alert/change_form.html"

    def own_rows(self, user: Any) -> QuerySet:
        return selectors.alert_list(user=user)

    @admin.display(description="values")
    def values_list(self, obj: Alert) -> SafeString | None:
        """The figures of the alert as labelled fields with units (alerts.values), not
        the JSON object the API carries."""
        return labelled_html(alert_values.values_fields(obj.kind, obj.values))

    # Read-only: alerts are raised and resolved by the evaluation, acknowledged here.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_acknowledge_permission(self, request: HttpRequest) -> bool:
        return _is_beekeeper(request)

    def may_acknowledge(self, request: HttpRequest, alert: Alert) -> bool:
        """The button's rule: the bulk action's permission, on the user's own open alert
        (a superuser reads everyone's alerts but acknowledges only their own, as the
        service allows)."""
        return (
            self.has_acknowledge_permission(request)
            and alert.user_id == request.user.pk
            and alert.status == Status.OPEN
        )

    def get_urls(self) -> list:
        return [
            object_view_path(self, "acknowledge", self.acknowledge_view, methods=["POST"]),
            *super().get_urls(),
        ]

    def acknowledge_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Acknowledge one alert: the alert page's and the overview's button (POST), with
        the service of the bulk action. 404 for an alert the user does not see, 403
        without the permission or for another user's alert; back to ``next`` (a page of
        this site) or the alert's page."""
        alert = self.get_object(request, unquote(object_id))  # the user's own alerts
        if alert is None:
            raise Http404("No such alert.")
        if not self.has_acknowledge_permission(request) or alert.user_id != request.user.pk:
            raise PermissionDenied
        if alert.status != Status.OPEN:
            messages.info(request, f"{alert}: not open, left as it was.")
        else:
            try:
                services.alert_acknowledge(alert=alert, actor=request.user)
            except ValidationError as exc:
                for message in service_error_messages(exc, Alert):
                    messages.error(request, f"{alert}: {message}")
            else:
                messages.success(request, f"Acknowledged: {alert}.")
        back = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(
            back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            back = reverse("admin:alerts_alert_change", args=[alert.pk])
        return HttpResponseRedirect(back)

    def render_change_form(
        self, request: HttpRequest, context: dict[str, Any], *args: Any, **kwargs: Any
    ) -> HttpResponse:
        context["show_delete"] = False
        obj = kwargs.get("obj")
        context["may_acknowledge"] = obj is not None and self.may_acknowledge(request, obj)
        return super().render_change_form(request, context, *args, **kwargs)

    # There is no service to delete an alert: they go with their hive (see the mixin), and
    # are never deleted from here.
    def get_actions(self, request: HttpRequest) -> dict:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def delete_view(self, request: HttpRequest, object_id: str, extra_context: Any = None):
        raise PermissionDenied

    def delete_model(self, request: HttpRequest, obj: Alert) -> None:
        raise PermissionDenied

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        raise PermissionDenied

    @admin.action(description="Acknowledge selected alerts", permissions=["acknowledge"])
    def acknowledge(self, request: HttpRequest, queryset: QuerySet) -> None:
        acknowledged = skipped = 0
        for alert in queryset:
            if alert.status != Status.OPEN:
                skipped += 1
                continue
            try:
                services.alert_acknowledge(alert=alert, actor=request.user)
            except ValidationError as exc:
                for message in service_error_messages(exc, Alert):
                    messages.error(request, f"{alert}: {message}")
            else:
                acknowledged += 1
        if acknowledged:
            messages.success(request, f"Acknowledged {acknowledged} alert(s).")
        if skipped:
            messages.info(request, f"{skipped} alert(s) were not open: left as they were.")


# --- Rules ------------------------------------------------------------------------------


@admin.register(AlertRule)
class AlertRuleAdmin(ServiceAdminMixin, OwnRowsAdminMixin, admin.ModelAdmin):
    form = AlertRuleAdminForm
    list_display = ["kind", "scope_display", "params_summary", "enabled"]
    list_select_related = ["hive", "apiary"]
    list_filter = ["kind", "enabled"]
    _MAIN_FIELDS: ClassVar[list[str]] = ["kind", "hive", "apiary", "enabled"]
    readonly_fields = ["params_list"]

    class Media:
        js = ["alerts/rule_form.js"]  # shows the chosen kind's parameters only

    def own_rows(self, user: Any) -> QuerySet:
        return selectors.rule_list(user=user).select_related("hive", "apiary")

    def get_list_display(self, request: HttpRequest) -> list[Any] | tuple[Any, ...]:
        if request.user.is_superuser:
            return [*self.list_display, "user"]
        return self.list_display

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> list[Any]:
        # A parameter section per kind on a new rule; a rule's own kind's on its page
        # (kind is fixed); a page read by someone else (a superuser): the values in words.
        if obj is None:
            return [(None, {"fields": self._MAIN_FIELDS}), *param_fieldsets()]
        if not self.has_change_permission(request, obj):
            return [(None, {"fields": [*self._MAIN_FIELDS, "params_list"]})]
        return [(None, {"fields": self._MAIN_FIELDS}), *param_fieldsets([obj.kind])]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # rule_update changes params and enabled only: kind and scope are fixed.
        return ["params_list"] if obj is None else ["kind", "hive", "apiary", "params_list"]

    @admin.display(description="parameters")
    def params_list(self, obj: AlertRule) -> SafeString | None:
        return labelled_html(params_pairs(obj.kind, obj.params))

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        # Rules watch the user's own hives and apiaries (any role: a rule is the user's
        # notification, not a change to the hive).
        if db_field.name == "hive":
            kwargs["queryset"] = apiary_selectors.hive_list_visible(user=request.user)
        elif db_field.name == "apiary":
            kwargs["queryset"] = apiary_selectors.apiary_list(user=request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        formfield = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name == "hive" and formfield is not None:
            formfield.help_text = "The one hive this rule watches."
        elif db_field.name == "apiary" and formfield is not None:
            formfield.help_text = (
                "Every hive of this apiary. Neither hive nor apiary: every hive of the "
                "apiaries you own."
            )
        return formfield

    @admin.display(description="scope")
    def scope_display(self, obj: AlertRule) -> str:
        if obj.hive_id:
            assert obj.hive is not None  # hive_id is set
            return f"hive {obj.hive.name}"
        if obj.apiary_id:
            assert obj.apiary is not None  # apiary_id is set
            return f"apiary {obj.apiary.name}"
        return "all my hives"

    @admin.display(description="parameters")
    def params_summary(self, obj: AlertRule) -> str:
        return params_text(obj.kind, obj.params)

    def service_save(self, request: HttpRequest, obj: AlertRule, form: Any, change: bool) -> Any:
        if change:
            return services.rule_update(
                rule=obj, actor=request.user, **cleaned_fields(form, services.RULE_FIELDS)
            )
        data = form.cleaned_data
        return services.rule_create(
            actor=request.user,
            kind=data.get("kind"),
            params=data.get("params"),
            hive=data.get("hive"),
            apiary=data.get("apiary"),
            enabled=data.get("enabled", True),
        )

    def service_delete(self, request: HttpRequest, obj: AlertRule) -> None:
        services.rule_delete(rule=obj, actor=request.user)


# --- Webhooks ---------------------------------------------------------------------------


class WebhookAdminForm(ServiceModelForm):
    # "hooks.example.com" is https://hooks.example.com (Django 6's default already).
    url = forms.URLField(
        max_length=500, assume_scheme="https", widget=forms.URLInput(attrs={"class": "vURLField"})
    )

    class Meta:
        model = Webhook
        fields = ["url", "description"]


RECENT_DELIVERIES = 20


@admin.register(Webhook)
class WebhookAdmin(ServiceAdminMixin, OwnRowsAdminMixin, admin.ModelAdmin):
    form = WebhookAdminForm
    list_display = ["url", "description", "created_at", "delivery_count"]
    search_fields = ["url", "description"]
    readonly_fields = ["created_at", "delivery_count", "recent_deliveries"]

    def own_rows(self, user: Any) -> QuerySet:
        return selectors.webhook_list(user=user)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(delivery_total=Count("deliveries"))

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[Any]:
        if obj is None:
            return ["url", "description"]
        return ["url", "description", "created_at", "delivery_count", "recent_deliveries"]

    def get_list_display(self, request: HttpRequest) -> list[Any] | tuple[Any, ...]:
        if request.user.is_superuser:
            return [*self.list_display, "user"]
        return self.list_display

    # There is no service to change a webhook: delete it and add another.
    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="deliveries", ordering="delivery_total")
    def delivery_count(self, obj: Webhook) -> int:
        total = getattr(obj, "delivery_total", None)
        return obj.deliveries.count() if total is None else total

    @admin.display(description=f"recent deliveries (last {RECENT_DELIVERIES})")
    def recent_deliveries(self, obj: Webhook) -> str:
        rows = list(selectors.delivery_list(webhook=obj)[:RECENT_DELIVERIES])
        if not rows:
            return "None yet."

        def last_result(delivery: Any) -> str:
            last = (delivery.log or [{}])[-1]
            return str(last.get("status") or last.get("error") or "—")

        body = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    local_text(d.created_at),
                    d.alert.message,
                    d.get_state_display(),
                    d.attempts,
                    last_result(d),
                )
                for d in rows
            ),
        )
        return format_html(
            "<table><thead><tr><th>created</th><th>alert</th><th>state</th>"
            "<th>attempts</th><th>last result</th></tr></thead><tbody>{}</tbody></table>",
            body,
        )

    def service_save(self, request: HttpRequest, obj: Webhook, form: Any, change: bool) -> Any:
        data = form.cleaned_data
        return services.webhook_create(
            actor=request.user, url=data["url"], description=data.get("description") or ""
        )

    def service_saved(self, request: HttpRequest, result: Webhook) -> Webhook:
        messages.warning(
            request,
            f"Signing secret of the webhook {result.url}: {result.secret} — give it to the "
            "receiver now (it checks X-BeeAPI-Signature with it); it is not shown again.",
        )
        return result

    def service_delete(self, request: HttpRequest, obj: Webhook) -> None:
        services.webhook_delete(webhook=obj, actor=request.user)
