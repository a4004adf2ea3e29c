"""The service-backed admin: ModelAdmins and inlines whose saves and deletes go through
an app's services, so the rules of the API hold in the console too.

- Every form ends its validation with a dry run of the very service call its save will
  make, in a transaction that is always rolled back. A ValidationError from it becomes a
  form error on its field (or on the form when the field is not shown) and the page is
  shown again with the user's input. Nothing here knows the rules: services and models
  may add any, and they show up the same way. (ServiceAdminMixin, ServiceInlineMixin.)
- Should a service still refuse at save time (the data changed since the dry run), the
  whole save is rolled back and the page comes back with the reason as a message.
- Deletes, one object or "delete selected", call the delete services object by object.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import (
    NON_FIELD_ERRORS,
    FieldDoesNotExist,
    ImproperlyConfigured,
    ValidationError,
)
from django.db import transaction
from django.db.models import Model, QuerySet
from django.forms.formsets import DELETION_FIELD_NAME
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.text import capfirst
from django.views.decorators.http import require_http_methods

from core.exceptions import UpstreamUnavailable


class _DryRun(Exception):
    """Rolls a dry run's transaction back once its service call has succeeded."""


def _dry_run(call: Callable[[], Any]) -> None:
    """Make ``call`` in a transaction that is always rolled back; a ValidationError escapes.

    A service saved through the admin writes only the ``default`` database: rolling back
    this transaction then undoes everything the call did.
    """
    try:
        with transaction.atomic():
            call()
            raise _DryRun
    except _DryRun:
        pass


def _field_label(model: type[Model] | None, name: str) -> str:
    try:
        label = model._meta.get_field(name).verbose_name  # type: ignore[union-attr]
    except (AttributeError, FieldDoesNotExist):
        label = name.replace("_", " ")
    return str(capfirst(label))


def _add_service_errors(form: forms.BaseForm, exc: ValidationError) -> None:
    """Show a service's errors on ``form``: on their field when the form has it, otherwise
    as errors of the whole form naming the field (a read-only or hidden one), so no error
    is lost; ``add_error`` itself refuses a field the form does not have."""
    errors = exc.error_dict if hasattr(exc, "error_dict") else {NON_FIELD_ERRORS: exc.error_list}
    # A form may take the errors of a field it shows as several (a rule's params as a
    # field per parameter): its add_error puts each on its own field.
    spread = getattr(form, "spread_error_fields", ())
    for field, field_errors in errors.items():
        if field in form.fields or field in spread:
            form.add_error(field, field_errors)
        elif field == NON_FIELD_ERRORS:
            form.add_error(None, field_errors)
        else:
            label = _field_label(form._meta.model, field)  # type: ignore[attr-defined]
            form.add_error(None, [f"{label}: {m}" for error in field_errors for m in error])


def service_error_messages(exc: ValidationError, model: type[Model]) -> list[str]:
    """A service's ValidationError as messages for the user, each naming its field."""
    if not hasattr(exc, "error_dict"):
        return exc.messages
    return [
        message if field == NON_FIELD_ERRORS else f"{_field_label(model, field)}: {message}"
        for field, field_messages in exc.message_dict.items()
        for message in field_messages
    ]


class ServiceFormMixin:
    """Ends a ModelForm's validation with a dry run of the service call its save makes.

    ``service_call(form)`` is set, per request, on the form class the admin builds for
    that request (ServiceAdminMixin.get_form, ServiceInlineMixin.get_formset).
    """

    service_call: Callable[[Any], Any] | None = None

    def _post_clean(self) -> None:
        # ModelForm's last step: the input is now on self.instance and the model's own
        # validation has run. Django's password forms hook in here the same way.
        super()._post_clean()  # type: ignore[misc]
        call = type(self).service_call
        # A form with errors is shown again anyway (fix those first); an inline row
        # marked for deletion is not saved at all.
        if call is None or self.errors or self.cleaned_data.get(DELETION_FIELD_NAME):  # type: ignore[attr-defined]
            return
        try:
            _dry_run(lambda: call(self))
        except ValidationError as exc:
            _add_service_errors(self, exc)  # type: ignore[arg-type]
        except UpstreamUnavailable as exc:  # a device key could not be revoked: nothing saved
            self.add_error(None, str(exc.detail))  # type: ignore[attr-defined]


class ServiceModelForm(ServiceFormMixin, forms.ModelForm):
    """The base of every form saved through a service (a Meta is added by the admin)."""


def _bind(form_class: type, call: Callable[[Any], Any]) -> type:
    if not issubclass(form_class, ServiceFormMixin):
        raise ImproperlyConfigured(
            f"{form_class.__name__} must subclass ServiceModelForm: its validation dry-runs "
            "the service save."
        )
    # The admin builds a new form class per request, so this binds this request only.
    form_class.service_call = staticmethod(call)
    return form_class


def _adopt(obj: Model, saved: Model) -> None:
    """Point the admin's instance at the row a service saved. Create services make their
    own object, while the admin goes on with its instance (log entry, redirect, inlines)."""
    if saved is not obj:
        obj.pk = saved.pk
        obj.refresh_from_db()


class _ServiceSaves:
    """What a ModelAdmin or an inline saves and deletes with.

    ``service_save`` makes the one service call that saves a form and returns what the
    service returned; it runs twice per save: as the form's dry run, then for real.
    ``service_saved`` then turns that result into the saved object and may tell the user
    something once (a new device key); it never runs in a dry run.
    """

    form: type = ServiceModelForm

    def service_save(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> Any:
        raise NotImplementedError

    def service_saved(self, request: HttpRequest, result: Any) -> Any:
        return result

    def service_delete(self, request: HttpRequest, obj: Any) -> None:
        raise NotImplementedError

    def _call_service(self, request: HttpRequest, obj: Model, form: Any) -> Any:
        change = obj.pk is not None
        if change:
            # The service decides what changes: it gets the row as stored, not the
            # instance the form has already written all of its input onto.
            obj.refresh_from_db()
        return self.service_save(request, obj, form, change)

    def _service_dry_run(self, request: HttpRequest) -> Callable[[Any], Any]:
        return lambda form: self._call_service(request, copy.copy(form.instance), form)


class ServiceAdminMixin(_ServiceSaves):
    """A ModelAdmin whose saves and deletes go through services (see the module doc)."""

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any):
        form_class = super().get_form(request, obj, change=change, **kwargs)  # type: ignore[misc]
        return _bind(form_class, self._service_dry_run(request))

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        _adopt(obj, self.service_saved(request, self._call_service(request, obj, form)))

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        inline = getattr(formset, "service_inline", None)
        if inline is None:
            super().save_formset(request, form, formset, change)  # type: ignore[misc]
        else:
            inline.save_formset_through_services(request, formset)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        self.service_delete(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        # "Delete selected": one service call per object, so a bulk delete follows the
        # rules of a single one. All or nothing.
        with transaction.atomic():
            for obj in queryset:
                self.service_delete(request, obj)

    def changeform_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return self._or_back(request, super().changeform_view, *args, **kwargs)  # type: ignore[misc]

    def delete_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return self._or_back(request, super().delete_view, *args, **kwargs)  # type: ignore[misc]

    def changelist_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return self._or_back(request, super().changelist_view, *args, **kwargs)  # type: ignore[misc]

    def _or_back(
        self, request: HttpRequest, view: Callable[..., HttpResponse], *args: Any, **kwargs: Any
    ) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except ValidationError as exc:
            # Last resort: a service refused at save time what its dry run accepted (the
            # data changed in between). The view's transaction has rolled back; say why
            # and go back to the page rather than answer 500.
            for message in service_error_messages(exc, self.model):  # type: ignore[attr-defined]
                messages.error(request, message)
            return HttpResponseRedirect(request.get_full_path())
        except UpstreamUnavailable as exc:
            # A key could not be revoked in the entities cache or at the MQTT broker (a
            # deleted hive's device key, say): the change rolled back as a whole.
            messages.error(request, str(exc.detail))
            return HttpResponseRedirect(request.get_full_path())


class ServiceInlineMixin(_ServiceSaves):
    """An inline whose rows are saved and deleted through services by the parent admin
    (a ServiceAdminMixin), each row dry-run like a form of its own."""

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any):
        formset = super().get_formset(request, obj, **kwargs)  # type: ignore[misc]
        dry_run = self._service_dry_run(request)

        def call(form: Any) -> None:
            if obj is None or obj.pk is None:
                return  # no saved parent yet to try the rows against
            if form.instance.pk is not None and not form.has_changed():
                return  # the formset saves changed rows only
            dry_run(form)

        _bind(formset.form, call)
        formset.service_inline = self  # the parent admin's save_formset saves through us
        return formset

    def save_formset_through_services(self, request: HttpRequest, formset: Any) -> None:
        formset.save(commit=False)  # sorts the rows: new, changed, deleted (change message)
        for obj in formset.deleted_objects:
            self.service_delete(request, obj)
        for form in formset.saved_forms:
            saved = self.service_saved(request, self._call_service(request, form.instance, form))
            _adopt(form.instance, saved)


def cleaned_fields(form: Any, names: set[str]) -> dict[str, Any]:
    """The form's cleaned values of those of ``names`` it has: a service call's arguments."""
    return {name: form.cleaned_data[name] for name in names if name in form.cleaned_data}


def object_view_path(
    model_admin: Any, action: str, view: Callable[..., HttpResponse], *, methods: list[str]
) -> URLPattern:
    """``<object_id>/<action>/`` under a model admin, named ``<app>_<model>_<action>``
    (with '-' as '_'): staff only, CSRF-protected and never cached (the admin site's
    admin_view), for ``methods`` only."""
    opts = model_admin.opts
    return path(
        f"<path:object_id>/{action}/",
        model_admin.admin_site.admin_view(require_http_methods(methods)(view)),
        name=f"{opts.app_label}_{opts.model_name}_{action.replace('-', '_').replace('/', '_')}",
    )


def labelled_html(pairs: list[tuple[str, str]]) -> SafeString | None:
    """(label, text) pairs as a small definition list for a read-only admin field (an
    event's details, an alert's values): labelled fields instead of a JSON object."""
    if not pairs:
        return None
    return format_html(
        '<dl class="bee-labelled">{}</dl>',
        format_html_join("", "<div><dt>{}</dt><dd>{}</dd></div>", pairs),
    )
