"""Django's user and group admin with every change on the record: a user's group memberships,
direct permissions and is_active/is_staff/is_superuser, a group's permissions. Many-to-many
changes are saved after the user row, so each save is one event with the sets before and after.
The password never enters an event (its field name marks it secret)."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group

from audit.config_admin import ConfigAuditedAdmin


class AuditedUserAdmin(ConfigAuditedAdmin, UserAdmin):
    config_kind = "user"
    config_fields = [
        "username",
        "is_active",
        "is_staff",
        "is_superuser",
        "groups",
        "user_permissions",
    ]

    def config_label(self, obj) -> str:
        return obj.get_username()


class AuditedGroupAdmin(ConfigAuditedAdmin, GroupAdmin):
    config_kind = "group"
    config_fields = ["name", "permissions"]


def register_audited_auth_admin(site: admin.AdminSite = admin.site) -> None:
    """Put the audited admins in place of django.contrib.auth's (registered before ours:
    `django.contrib.auth` comes first in INSTALLED_APPS)."""
    user_model = get_user_model()
    for model, model_admin in ((user_model, AuditedUserAdmin), (Group, AuditedGroupAdmin)):
        if site.is_registered(model):
            site.unregister(model)
        site.register(model, model_admin)
