"""Admin for the trigger layer: integrations and keys, event types, inbound events, schedules."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.html import format_html

from audit.config_admin import ADMIN_CHANNEL, ConfigAuditedAdmin, ConfigAuditedInline
from integrations import services
from integrations.forms import ApiKeyForm, EventTypeForm, ManualStartForm, ScheduleForm
from integrations.models import (
    ApiKey,
    EventType,
    InboundEvent,
    Integration,
    Rejection,
    Schedule,
    TriggerBinding,
    WebhookSecret,
    WebhookSource,
)
from opscore.actors import Actor
from opscore.admin_base import (
    ExplainRefusedActionsMixin,
    ReadOnlyAdminMixin,
    ShowOnceMixin,
    json_block,
    show_once,
)
from opscore.admin_links import admin_url
from opscore.api_errors import Problem
from privacy import sealing
from workflows import registry


def _show_key_once(request, api_key: ApiKey, plaintext: str) -> None:
    show_once(
        request,
        format_html(
            "API key for {} (prefix {}): <code>{}</code> — copy it now, it is not shown again.",
            api_key.integration,
            api_key.prefix,
            plaintext,
        ),
    )


def _admin_actor(request) -> dict:
    return {"actor": Actor.for_user(request.user), "channel": ADMIN_CHANNEL}


@admin.register(Integration)
class IntegrationAdmin(ConfigAuditedAdmin, admin.ModelAdmin):
    config_fields = ["name", "description", "is_active"]
    list_display = ["name", "is_active", "created_at"]
    search_fields = ["name"]
    readonly_fields = ["user", "created_at"]


@admin.register(ApiKey)
class ApiKeyAdmin(ConfigAuditedAdmin, ExplainRefusedActionsMixin, ShowOnceMixin, admin.ModelAdmin):
    # Every change of a key goes through a service, which records it; the mixin gives the
    # history page (a rotated-to key lists the rotation, recorded on the key it replaced).
    form = ApiKeyForm
    list_display = [
        "prefix",
        "integration",
        "name",
        "scopes",
        "event_types",
        "state",
        "last_used_at",
    ]
    list_filter = ["integration", "revoked_at"]
    list_select_related = ["integration"]
    readonly_fields = ["prefix", "created_at", "last_used_at", "revoked_at", "replaced_by"]
    actions = ["rotate_selected", "revoke_selected"]

    @admin.display(description="state")
    def state(self, api_key: ApiKey) -> str:
        return "active" if api_key.is_active else f"revoked {api_key.revoked_at:%Y-%m-%d %H:%M}"

    def get_readonly_fields(self, request, obj=None):
        # Scopes of a live key are changed by rotating it, so the change is visible and dated.
        if obj is not None:
            return [*self.readonly_fields, "integration", "scopes", "event_types"]
        return self.readonly_fields

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is not None:
            kwargs["fields"] = ["name"]
        return super().get_form(request, obj, change=change, **kwargs)

    def config_history_objects(self, obj: ApiKey):
        return [obj, *ApiKey.objects.filter(replaced_by=obj)]

    def save_model(self, request, obj, form, change):
        if change:
            services.rename_api_key(api_key=obj, name=obj.name, **_admin_actor(request))
            return
        created, plaintext = services.create_api_key(
            integration=form.cleaned_data["integration"],
            scopes=form.cleaned_data["scopes"],
            event_types=form.cleaned_data["event_types"],
            name=form.cleaned_data["name"],
            **_admin_actor(request),
        )
        obj.pk = created.pk
        obj._state.adding = False
        _show_key_once(request, created, plaintext)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # revoke instead: inbound events and rejections keep pointing at it

    def has_rotate_permission(self, request) -> bool:
        return request.user.has_perm("integrations.rotate_apikey")

    def has_revoke_permission(self, request) -> bool:
        return request.user.has_perm("integrations.revoke_apikey")

    @admin.action(
        description="Rotate selected keys (new key shown once, old one revoked)",
        permissions=["rotate"],
    )
    def rotate_selected(self, request, queryset):
        for api_key in queryset.filter(revoked_at__isnull=True):
            new, plaintext = services.rotate_api_key(api_key=api_key, **_admin_actor(request))
            _show_key_once(request, new, plaintext)

    @admin.action(description="Revoke selected keys", permissions=["revoke"])
    def revoke_selected(self, request, queryset):
        count = 0
        for api_key in queryset.filter(revoked_at__isnull=True):
            services.revoke_api_key(api_key=api_key, **_admin_actor(request))
            count += 1
        self.message_user(request, f"Revoked {count} key(s).", messages.SUCCESS)


class TriggerBindingInline(ConfigAuditedInline, admin.StackedInline):
    config_fields = ["event_type", "action", "workflow", "transition", "is_active"]
    model = TriggerBinding
    extra = 0
    max_num = 1


@admin.register(EventType)
class EventTypeAdmin(ConfigAuditedAdmin, admin.ModelAdmin):
    config_fields = ["name", "description", "schema", "is_active"]
    form = EventTypeForm
    list_display = ["name", "is_active", "binding"]
    search_fields = ["name"]
    inlines = [TriggerBindingInline]

    def config_history_objects(self, obj: EventType):
        return [obj, *TriggerBinding.objects.filter(event_type=obj)]


class WebhookSecretInline(ConfigAuditedInline, admin.TabularInline):
    """Secrets are listed by number and age only, and added by the rotation action, which shows
    a new one once: whoever may view a source must not read any part of the secrets that sign
    its hooks."""

    config_fields = ["is_active"]
    model = WebhookSecret
    extra = 0
    fields = ["preview", "is_active", "created_at"]
    readonly_fields = ["preview", "created_at"]
    can_delete = False

    @admin.display(description="secret")
    def preview(self, secret: WebhookSecret) -> str:
        return f"#{secret.pk}"

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def config_label(self, secret: WebhookSecret) -> str:
        return str(secret)


@admin.register(WebhookSource)
class WebhookSourceAdmin(
    ConfigAuditedAdmin, ExplainRefusedActionsMixin, ShowOnceMixin, admin.ModelAdmin
):
    config_fields = ["name", "integration", "event_types", "correlation_field", "is_active"]
    list_display = ["name", "integration", "event_types", "is_active"]
    inlines = [WebhookSecretInline]
    actions = ["add_secret"]

    def config_history_objects(self, obj: WebhookSource):
        return [obj, *WebhookSecret.objects.filter(source=obj)]

    def has_add_secret_permission(self, request) -> bool:
        return request.user.has_perm("integrations.add_webhooksecret")

    @admin.action(
        description="Add a new secret to selected sources (rotation)", permissions=["add_secret"]
    )
    def add_secret(self, request, queryset):
        for source in queryset:
            secret = services.add_webhook_secret(source=source, **_admin_actor(request))
            show_once(
                request,
                format_html(
                    "New secret for {}: <code>{}</code> — copy it now, it is not shown again.",
                    source,
                    secret.secret,
                ),
            )


@admin.register(InboundEvent)
class InboundEventAdmin(ExplainRefusedActionsMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only: inbound events are immutable. Re-delivery and manual start go through ingest."""

    list_display = [
        "received_at",
        "type",
        "source",
        "idempotency_key",
        "channel",
        "status",
        "instance_link",
    ]
    list_filter = ["channel", "status", "type"]
    search_fields = ["=idempotency_key", "=correlation_key", "=source"]
    show_full_result_count = False
    date_hierarchy = "received_at"
    actions = ["redeliver_deduplicated", "redeliver_with_new_key"]
    fields = [
        "id",
        "received_at",
        "channel",
        "source",
        "idempotency_key",
        "request_hash",
        "type",
        "occurred_at",
        "correlation_key",
        "payload_pretty",
        "status",
        "integration",
        "actor_ref",
        "instance_link",
        "transition",
        "response_status",
        "response_pretty",
        "redelivery_of",
    ]
    readonly_fields = fields
    change_list_template = "admin/integrations/inboundevent/change_list.html"

    @admin.display(description="payload")
    def payload_pretty(self, event: InboundEvent) -> str:
        return json_block(sealing.reveal(event.payload))

    @admin.display(description="response")
    def response_pretty(self, event: InboundEvent) -> str:
        return json_block(event.response_body)

    @admin.display(description="instance")
    def instance_link(self, event: InboundEvent) -> str:
        if event.instance_id is None:
            return "—"
        text = f"{event.workflow} #{event.instance_id}"
        try:
            model = registry.get(event.workflow).model
        except registry.UnknownWorkflow:
            return text
        url = admin_url(model, event.instance_id)
        return format_html('<a href="{}">{}</a>', url, text) if url else text

    def _redeliver(self, request, queryset, *, new_key: bool) -> None:
        for event in queryset:
            try:
                result = services.redeliver_inbound_event(
                    event=event, user=request.user, new_key=new_key
                )
            except Problem as problem:
                self.message_user(
                    request, f"{event}: refused ({problem.code}): {problem.detail}", messages.ERROR
                )
                continue
            if result.replayed:
                self.message_user(
                    request,
                    f"{event}: deduplicated, already delivered as {result.inbound_event_id}",
                    messages.INFO,
                )
            else:
                self.message_user(
                    request,
                    f"{event}: delivered again as {result.inbound_event_id} (new key)",
                    messages.SUCCESS,
                )

    @admin.action(
        description="Re-deliver selected events (deduplicated: same key)",
        permissions=["redeliver"],
    )
    def redeliver_deduplicated(self, request, queryset):
        self._redeliver(request, queryset, new_key=False)

    @admin.action(
        description="Re-deliver selected events under a NEW key (a second delivery)",
        permissions=["redeliver"],
    )
    def redeliver_with_new_key(self, request, queryset):
        self._redeliver(request, queryset, new_key=True)

    def has_redeliver_permission(self, request) -> bool:
        return request.user.has_perm("integrations.redeliver_inboundevent")

    def get_urls(self):
        return [
            path(
                "start/",
                self.admin_site.admin_view(self.manual_start_view),
                name="integrations_manual_start",
            ),
            *super().get_urls(),
        ]

    def manual_start_view(self, request):
        if not request.user.has_perm("integrations.start_workflow_manually"):
            raise PermissionDenied
        form = ManualStartForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                result = services.start_manually(
                    event_type=form.cleaned_data["event_type"],
                    payload=form.cleaned_data["payload"],
                    correlation_key=form.cleaned_data["correlation_key"],
                    idempotency_key=form.cleaned_data["idempotency_key"],
                    occurred_at=form.cleaned_data["opened_at"],
                    user=request.user,
                )
            except Problem as problem:
                form.add_error(None, f"{problem.title}: {problem.detail}")
                for error in problem.errors:
                    form.add_error(None, f"{error['pointer'] or '/'}: {error['detail']}")
            else:
                instance = result.body["instance"] or {}
                self.message_user(
                    request,
                    f"{'Already started' if result.replayed else 'Started'} "
                    f"{instance.get('workflow')} {instance.get('correlation_key')} "
                    f"(inbound event {result.inbound_event_id})",
                    messages.SUCCESS,
                )
                return redirect("admin:integrations_inboundevent_changelist")
        context = {
            **self.admin_site.each_context(request),
            "title": "Start a workflow",
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/integrations/manual_start.html", context)


@admin.register(Rejection)
class RejectionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "received_at",
        "channel",
        "status",
        "problem",
        "source",
        "event_type",
        "client_ip",
        "count",
    ]
    list_filter = ["channel", "status", "problem", "authenticated"]
    search_fields = ["=idempotency_key", "=source"]
    show_full_result_count = False
    date_hierarchy = "received_at"

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in Rejection._meta.fields]


@admin.register(Schedule)
class ScheduleAdmin(ConfigAuditedAdmin, admin.ModelAdmin):
    config_fields = ["name", "event_type", "cron", "payload", "correlation_key", "is_active"]
    form = ScheduleForm
    list_display = ["name", "event_type", "cron", "is_active", "next_run"]
    list_select_related = ["event_type", "q_schedule"]

    @admin.display(description="next run")
    def next_run(self, schedule: Schedule):
        return schedule.q_schedule.next_run if schedule.q_schedule else "—"

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        services.sync_schedule(schedule=obj)

    def delete_model(self, request, obj):
        services.delete_schedule(schedule=obj, **_admin_actor(request))

    def delete_queryset(self, request, queryset):
        for schedule in queryset:
            services.delete_schedule(schedule=schedule, **_admin_actor(request))
