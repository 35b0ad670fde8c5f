"""Admin that puts configuration changes on the record.

`ConfigAuditedAdmin` turns each create, change and delete made through a plain admin form
(its many-to-many fields and audited inlines included) into one `config.<kind>.<action>`
event, in the transaction the admin saves in, and makes the object's history page read the
log. Where a service makes the change (publishing, rotating a key), the service records it and
the admin only calls it: the mixin records nothing for a save that did not go through its own
`save_model`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import models, router, transaction
from django.template.response import TemplateResponse
from django.urls import reverse

from audit import selectors
from audit.config_snapshots import default_config_fields, snapshot, stored_snapshot
from audit.services import record_config_change
from opscore.actors import Actor

ADMIN_CHANNEL = "admin"
HISTORY_PAGE_SIZE = 100
_NOT_AUDITED = object()


def _shown(value: Any) -> str:
    if value is None:
        return "—"
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


class ConfigShape:
    """What a configuration object records: its kind, the fields of its before/after, and the
    label a person knows it by."""

    config_kind: str = ""
    config_fields: Sequence[str] | None = None
    config_exclude: Sequence[str] = ()

    def config_kind_for(self, obj: models.Model) -> str:
        return self.config_kind or obj._meta.model_name

    def config_field_names(self, obj: models.Model) -> Sequence[str]:
        if self.config_fields is not None:
            return self.config_fields
        return default_config_fields(type(obj), exclude=self.config_exclude)

    def config_snapshot(self, obj: models.Model) -> dict[str, Any]:
        return snapshot(obj, self.config_field_names(obj))

    def config_stored_snapshot(self, obj: models.Model) -> dict[str, Any] | None:
        return stored_snapshot(obj, self.config_field_names(obj))

    def config_label(self, obj: models.Model) -> str:
        return str(obj)

    def record_config(
        self,
        request,
        obj: models.Model,
        *,
        action: str,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
    ) -> None:
        if action == "changed" and before == after:
            return  # saved without a change: nothing happened to how work is done
        record_config_change(
            actor=Actor.for_user(request.user),
            channel=ADMIN_CHANNEL,
            kind=self.config_kind_for(obj),
            action=action,
            target=obj,
            label=self.config_label(obj),
            before=before,
            after=after,
        )


class ConfigAuditedInline(ConfigShape):
    """An inline whose rows are configuration (a trigger binding, a webhook secret's active
    flag): used inside a `ConfigAuditedAdmin`, each row added, changed or deleted is one event."""


class ConfigAuditedAdmin(ConfigShape):
    """A model admin whose every save and delete is one configuration event.

    Put it first among the bases (it overrides `history_view` over simple-history's). Set
    `config_kind` (default: the model name) and `config_fields` (default: every editable
    field but secrets); override `config_label` when `str()` would show a secret, and
    `config_history_objects` to list related objects' events on the history page too.
    """

    config_history_template = "admin/audit/config_history.html"

    # --- recording -------------------------------------------------------------------------

    def save_model(self, request, obj, form, change):
        # The form has already written its values onto `obj`: read what was stored instead.
        obj._config_audit_before = self.config_stored_snapshot(obj) if change else None
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        # As ModelAdmin.save_related, with the object's event once its many-to-many fields
        # are saved (group memberships, permissions) and before its inlines' own events.
        form.save_m2m()
        obj = form.instance
        before = obj.__dict__.pop("_config_audit_before", _NOT_AUDITED)
        if before is not _NOT_AUDITED:
            self.record_config(
                request,
                obj,
                action="changed" if change else "created",
                before=before,
                after=self.config_snapshot(obj),
            )
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def save_formset(self, request, form, formset, change):
        inline = self._audited_inline_for(formset.model)
        if inline is None:
            super().save_formset(request, form, formset, change)
            return
        deleted = {id(f.instance) for f in formset.deleted_forms}
        before = {
            f.instance.pk: inline.config_stored_snapshot(f.instance)
            for f in formset.initial_forms
            if f.instance.pk is not None and (f.has_changed() or id(f.instance) in deleted)
        }
        # Deletions are recorded before the rows go (their primary key goes with them).
        for f in formset.deleted_forms:
            if f.instance.pk is not None:
                inline.record_config(
                    request,
                    f.instance,
                    action="deleted",
                    before=before.get(f.instance.pk),
                    after=None,
                )
        formset.save()
        for obj in formset.new_objects:
            inline.record_config(
                request, obj, action="created", before=None, after=inline.config_snapshot(obj)
            )
        for obj, _fields in formset.changed_objects:
            inline.record_config(
                request,
                obj,
                action="changed",
                before=before.get(obj.pk),
                after=inline.config_snapshot(obj),
            )

    def _audited_inline_for(self, model: type[models.Model]) -> ConfigAuditedInline | None:
        for inline_class in self.inlines:
            if inline_class.model is model and issubclass(inline_class, ConfigAuditedInline):
                return inline_class(self.model, self.admin_site)
        return None

    def delete_model(self, request, obj):
        # Recorded before the row goes, so the event still names it; the admin's delete view
        # runs in one transaction, so a refused delete (a protected row) records nothing.
        self.record_config(
            request, obj, action="deleted", before=self.config_snapshot(obj), after=None
        )
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        # The "delete selected" action is not wrapped in a transaction by the admin.
        with transaction.atomic(using=router.db_for_write(self.model)):
            for obj in queryset:
                self.record_config(
                    request, obj, action="deleted", before=self.config_snapshot(obj), after=None
                )
            super().delete_queryset(request, queryset)

    # --- reading ---------------------------------------------------------------------------

    def config_history_objects(self, obj: models.Model) -> Iterable[models.Model]:
        return [obj]

    def _stored_versions(self, obj: models.Model) -> list[dict[str, Any]]:
        """simple-history's stored versions, where the model keeps them: linked below the log
        (their read-only pages stay), the log being the record shown first."""
        history = getattr(obj, "history", None)
        if history is None or not hasattr(self, "history_form_view"):
            return []
        name = f"{self.admin_site.name}:{self.opts.app_label}_{self.opts.model_name}_simple_history"
        return [
            {"record": record, "url": reverse(name, args=[obj.pk, record.history_id])}
            for record in history.select_related("history_user").order_by("-history_id")[:20]
        ]

    def history_view(self, request, object_id, extra_context=None):
        """The object's configuration events from the log, newest first: who, when, through
        which channel, and each changed field from -> to. Readable by whoever may view it."""
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_view_or_change_permission(request, obj):
            raise PermissionDenied
        events = selectors.config_events_for(objects=self.config_history_objects(obj))
        page = Paginator(events, HISTORY_PAGE_SIZE).get_page(request.GET.get("p", 1))
        rows = [
            {
                "event": event,
                "channel": (event.payload or {}).get("channel", ""),
                "action": (event.payload or {}).get("action", ""),
                "label": (event.payload or {}).get("label", ""),
                "changes": [
                    {"field": c.field, "before": _shown(c.before), "after": _shown(c.after)}
                    for c in selectors.config_changes(event=event)
                ],
            }
            for event in page
        ]
        context = {
            **self.admin_site.each_context(request),
            "title": f"Configuration history: {obj}",
            "subtitle": None,
            "object": obj,
            "opts": self.opts,
            "module_name": str(self.opts.verbose_name_plural).capitalize(),
            "rows": rows,
            "page": page,
            "versions": self._stored_versions(obj),
            **(extra_context or {}),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, self.config_history_template, context)
