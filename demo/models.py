"""Mail the demo's local SMTP sink received, kept so it can be read in admin."""

from django.db import models
from django.utils import timezone


class ReceivedMail(models.Model):
    """One message as it reached the sink: who sent it, to whom, and what it said."""

    envelope_from = models.CharField("from", max_length=254)
    # One lower-cased address per line: an inbox is found with exact line matches on every
    # database (see demo.selectors.mail_for).
    recipients = models.TextField("to")
    subject = models.CharField(max_length=998, blank=True)
    body = models.TextField(blank=True, help_text="The plain-text part.")
    html = models.TextField(blank=True, help_text="The HTML part, if any.")
    raw = models.TextField(help_text="The message as received, headers included.")
    received_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name = "received mail"
        verbose_name_plural = "received mail"
        ordering = ["-received_at", "-id"]
        permissions = [("read_all_mail", "Can read every mail the sink received")]

    def __str__(self) -> str:
        return self.subject or "(no subject)"

    @property
    def recipient_list(self) -> list[str]:
        return self.recipients.splitlines()
