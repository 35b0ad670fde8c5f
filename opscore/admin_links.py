"""Links between admin pages that the viewer may open, and plain text for the rest.

A link to a page that answers 403 tells the reader nothing but "not for you", after a click;
the name alone says as much. Pages render their links through `admin_url` / `link_or_text`,
which ask the target's own ModelAdmin whether this viewer may view it.

Read-only display methods and Django's own read-only foreign keys do not receive the request,
so `ViewerMiddleware` keeps it in a context variable while the response is made and rendered,
and `guard_readonly_foreign_keys` makes admin's read-only foreign keys ask the same question
(Django links them to the related object's page whoever looks).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html

_viewer: ContextVar[HttpRequest | None] = ContextVar("opscore_admin_viewer", default=None)


@contextmanager
def viewing(request: HttpRequest) -> Iterator[None]:
    token = _viewer.set(request)
    try:
        yield
    finally:
        _viewer.reset(token)


def current_request() -> HttpRequest | None:
    return _viewer.get()


def admin_url(
    model: type[Model], pk, *, request: HttpRequest | None = None, obj: Model | None = None
) -> str | None:
    """The change page of `model` #`pk`, or None when the viewer may not view it there (or
    no admin shows that model, or no page is being rendered for anyone)."""
    request = request or _viewer.get()
    if request is None or not admin.site.is_registered(model):
        return None
    model_admin = admin.site.get_model_admin(model)
    if not model_admin.has_view_permission(request, obj):
        return None
    opts = model._meta
    try:
        return reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[pk])
    except NoReverseMatch:
        return None


def changelist_url(model: type[Model], *, request: HttpRequest | None = None) -> str | None:
    """The list page of `model`, or None when the viewer may not open it."""
    request = request or _viewer.get()
    if request is None or not admin.site.is_registered(model):
        return None
    if not admin.site.get_model_admin(model).has_view_permission(request):
        return None
    opts = model._meta
    try:
        return reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    except NoReverseMatch:
        return None


def link_or_text(obj: Model, text: str | None = None, *, request: HttpRequest | None = None):
    """`obj` (or `text`) linked to its change page when the viewer may open it, else plain."""
    label = str(obj) if text is None else text
    url = admin_url(type(obj), obj.pk, request=request, obj=obj)
    return format_html('<a href="{}">{}</a>', url, label) if url else label


class ViewerMiddleware:
    """The request, known to `admin_url` and friends while its response is made and rendered
    (a TemplateResponse renders inside this call)."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        with viewing(request):
            return self.get_response(request)


def guard_readonly_foreign_keys() -> None:
    """Admin's read-only foreign keys link only for a viewer who may open the target; for
    the others they show its name (called once, from the kernel app's ready())."""
    from django.contrib.admin.helpers import AdminReadonlyField

    django_link = AdminReadonlyField.get_admin_url
    if getattr(django_link, "opscore_guarded", False):
        return

    def get_admin_url(self, remote_field, remote_obj):
        request = _viewer.get()
        if (
            request is not None
            and admin_url(type(remote_obj), remote_obj.pk, request=request, obj=remote_obj) is None
        ):
            return str(remote_obj)
        return django_link(self, remote_field, remote_obj)

    get_admin_url.opscore_guarded = True
    AdminReadonlyField.get_admin_url = get_admin_url
