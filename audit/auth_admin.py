"""Django's user and group admin with every change on the record: a user's group memberships,
direct permissions and is_active/is_staff/is_superuser, a group's permissions. Many-to-many
changes are saved after the user row, so each save is one event with the sets before and after.
The password never enters an event (its field name marks it secret)."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django.db import router, transaction

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

    def user_change_password(self, request, id, form_url=""):
        """Django's password page, with a `config.user.password_changed` event when the stored
        password changed: only whether it is usable, never the password or its hash."""
        with transaction.atomic(using=router.db_for_write(self.model)):
            user = self.get_object(request, unquote(id))
            stored_before = user.password if user is not None else None
            response = super().user_change_password(request, id, form_url)
            if user is not None:
                changed = type(user)._base_manager.get(pk=user.pk)
                if changed.password != stored_before:
                    self.record_config(
                        request,
                        changed,
                        action="password_changed",
                        before={"usable_password": user.has_usable_password()},
                        after={"usable_password": changed.has_usable_password()},
                    )
        return response


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
