"""Read the demo's mail in admin: each person their own inbox, a supervisor all of it."""

from __future__ import annotations

from django.contrib import admin
from django.utils import timezone
from django.utils.html import format_html, linebreaks, urlize
from django.utils.safestring import SafeString, mark_safe

from demo import selectors
from demo.models import ReceivedMail
from opscore.admin_base import ReadOnlyAdminMixin


@admin.register(ReceivedMail)
class ReceivedMailAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["received", "envelope_from", "to", "subject"]
    list_display_links = ["received", "subject"]
    search_fields = ["subject", "recipients", "envelope_from"]
    date_hierarchy = "received_at"
    show_full_result_count = False
    fields = ["received", "envelope_from", "to", "subject", "message", "original"]
    readonly_fields = fields
    actions = None

    def get_queryset(self, request):
        return selectors.mail_for(user=request.user)

    @admin.display(description="received at", ordering="received_at")
    def received(self, mail: ReceivedMail) -> str:
        return f"{timezone.localtime(mail.received_at):%Y-%m-%d %H:%M:%S %Z}"

    @admin.display(description="to")
    def to(self, mail: ReceivedMail) -> str:
        return ", ".join(mail.recipient_list)

    @admin.display(description="message")
    def message(self, mail: ReceivedMail) -> SafeString:
        # The plain-text part, escaped, with its addresses made links: a reader follows the
        # link an email carries (a task page, an answer form) straight from here.
        return mark_safe(linebreaks(urlize(mail.body, nofollow=True, autoescape=True)))  # noqa: S308 - escaped by urlize

    @admin.display(description="as received")
    def original(self, mail: ReceivedMail) -> SafeString:
        return format_html(
            '<details><summary>headers and parts</summary><pre style="white-space: pre-wrap">'
            "{}</pre></details>",
            mail.raw,
        )
