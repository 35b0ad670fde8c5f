"""An admin site for the configuration-audit tests only: AlertRule under `ConfigAuditedAdmin`,
as observability's own admin is to apply it (that module belongs to the alerts work)."""

from django.contrib import admin
from django.urls import path

from audit.config_admin import ConfigAuditedAdmin
from observability.models import AlertRule
from opscore.admin_base import HistoryReadOnlyAdmin

site = admin.AdminSite(name="config_audit_test")


class AuditedAlertRuleAdmin(ConfigAuditedAdmin, HistoryReadOnlyAdmin):
    config_kind = "alertrule"


site.register(AlertRule, AuditedAlertRuleAdmin)

urlpatterns = [path("admin/", site.urls)]
