"""Admin for alerts: rules are configuration (versioned), alerts are read and acknowledged."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse

from audit.config_admin import ConfigAuditedAdmin
from integrations.models import Integration
from observability.alerts.services import ACKNOWLEDGE_PERMISSION, AlertError, acknowledge_alert
from observability.models import Alert, AlertDelivery, AlertRule, CheckRun
from opscore.admin_base import (
    ExplainRefusedActionsMixin,
    HistoryReadOnlyAdmin,
    ReadOnlyAdminMixin,
    json_block,
)
from workflows import registry


class AlertRuleForm(forms.ModelForm):
    """Names in a rule's scope must name something: a typo would otherwise fail the rule's
    evaluation every minute, or silently match nothing."""

    class Meta:
        model = AlertRule
        fields = [
            "name",
            "kind",
            "enabled",
            "workflow",
            "queue",
            "integration",
            "threshold",
            "window",
            "notify_group",
        ]

    def clean_workflow(self) -> str:
        name = self.cleaned_data["workflow"]
        if name:
            try:
                registry.get(name)
            except registry.UnknownWorkflow:
                known = ", ".join(d.name for d in registry.all_definitions())
                raise forms.ValidationError(f"no workflow {name!r} (known: {known})") from None
        return name

    def clean_integration(self) -> str:
        name = self.cleaned_data["integration"]
        if name and not Integration.objects.filter(name=name).exists():
            raise forms.ValidationError(f"no integration {name!r}")
        return name


@admin.register(AlertRule)
class AlertRuleAdmin(ConfigAuditedAdmin, HistoryReadOnlyAdmin):
    config_kind = "alertrule"
    form = AlertRuleForm
    fields = AlertRuleForm.Meta.fields
    list_display = ["name", "kind", "scope", "threshold", "window", "enabled", "notify_group"]
    list_filter = ["kind", "enabled"]
    list_select_related = ["queue", "notify_group"]
    search_fields = ["name", "workflow", "integration"]

    @admin.display(description="scope")
    def scope(self, rule: AlertRule) -> str:
        parts = [rule.workflow, rule.queue.name if rule.queue_id else "", rule.integration]
        return " / ".join(part for part in parts if part) or "all"

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # a rule with alerts is kept; disable it instead
        return actions


class AlertDeliveryInline(admin.TabularInline):
    model = AlertDelivery
    fields = ["channel", "transition", "message_id", "attempts", "sent_at", "last_error"]
    readonly_fields = fields
    extra = 0

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Alert)
class AlertAdmin(ExplainRefusedActionsMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["rule", "kind", "opened_at", "resolved_at", "acknowledged_at", "summary"]
    list_filter = ["rule__kind", ("resolved_at", admin.EmptyFieldListFilter)]
    list_select_related = ["rule", "acknowledged_by"]
    show_full_result_count = False
    fields = [
        "rule",
        "opened_at",
        "resolved_at",
        "acknowledged_at",
        "acknowledged_by",
        "detail_shown",
    ]
    readonly_fields = fields
    inlines = [AlertDeliveryInline]
    actions = ["acknowledge"]
    change_form_template = "admin/observability/alert/change_form.html"

    @admin.display(description="kind", ordering="rule__kind")
    def kind(self, alert: Alert) -> str:
        return alert.rule.get_kind_display()

    @admin.display(description="what was seen")
    def summary(self, alert: Alert) -> str:
        return str(alert.detail.get("summary", ""))[:120]

    @admin.display(description="detail")
    def detail_shown(self, alert: Alert) -> str:
        return json_block(alert.detail)

    def has_acknowledge_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.has_perm(ACKNOWLEDGE_PERMISSION)

    def _acknowledge(self, request: HttpRequest, alert: Alert) -> None:
        try:
            acknowledge_alert(alert=alert, user=request.user)
        except AlertError as error:
            self.message_user(request, str(error), messages.ERROR)
            return
        self.message_user(request, f"Acknowledged {alert}.", messages.SUCCESS)

    @admin.action(description="Acknowledge selected alerts", permissions=["acknowledge"])
    def acknowledge(self, request, queryset):
        for alert in queryset:
            self._acknowledge(request, alert)

    def get_urls(self):
        return [
            path(
                "<int:object_id>/acknowledge/",
                self.admin_site.admin_view(self.acknowledge_view),
                name="observability_alert_acknowledge",
            ),
            *super().get_urls(),
        ]

    def acknowledge_view(self, request: HttpRequest, object_id: int):
        """The change page's button: POST only, permission checked here and in the service."""
        if request.method != "POST":
            raise PermissionDenied("acknowledge with the button (POST)")
        if not self.has_acknowledge_permission(request):
            raise PermissionDenied("acknowledging an alert needs observability.acknowledge_alert")
        alert = get_object_or_404(Alert, pk=object_id)
        self._acknowledge(request, alert)
        return HttpResponseRedirect(reverse("admin:observability_alert_change", args=[alert.pk]))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        alert = Alert.objects.filter(pk=object_id).first()
        extra_context = {
            **(extra_context or {}),
            "can_acknowledge": bool(
                alert is not None
                and alert.resolved_at is None
                and alert.acknowledged_at is None
                and self.has_acknowledge_permission(request)
            ),
        }
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(CheckRun)
class CheckRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["name", "ok", "started_at", "finished_at", "error"]
    list_filter = ["name", "ok"]
    show_full_result_count = False
    fields = ["name", "ok", "started_at", "finished_at", "detail_shown"]
    readonly_fields = fields

    @admin.display(description="error")
    def error(self, run: CheckRun) -> str:
        return str(run.detail.get("error", ""))[:120]

    @admin.display(description="detail")
    def detail_shown(self, run: CheckRun) -> str:
        return json_block(run.detail)
