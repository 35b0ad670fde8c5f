from django.contrib import admin

from audit.auth_admin import register_audited_auth_admin
from audit.models import Event
from audit.selectors import readable_payload
from opscore.admin_base import ReadOnlyAdminMixin, json_block


@admin.register(Event)
class EventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The log is read-only everywhere; the database refuses changes anyway."""

    list_display = ["seq", "recorded_at", "type", "instance_type", "instance_id", "actor"]
    list_filter = ["type", "actor_kind", "instance_type"]
    search_fields = ["type", "actor_ref", "=instance_id"]
    list_select_related = ["instance_type"]
    show_full_result_count = False
    # An operator opens the log to see what just happened: the newest events first.
    ordering = ["-seq"]
    date_hierarchy = "recorded_at"
    # The payload as read (personal values revealed while their key exists, "[erased]"
    # after), in place of the stored one: the stored one holds only sealed tokens.
    readonly_fields = [
        "payload_revealed" if f.name == "payload" else f.name for f in Event._meta.concrete_fields
    ]

    @admin.display(description="payload")
    def payload_revealed(self, event: Event) -> str:
        return json_block(readable_payload(event.payload))

    @admin.display(description="actor")
    def actor(self, event: Event) -> str:
        return f"{event.actor_kind}:{event.actor_ref}"


register_audited_auth_admin()
