"""Per-subject keys: personal values are stored sealed with their subject's key, outside
anything the audit chain hashes in plaintext, and read back only while that key exists."""

from django.db import models
from django.utils import timezone


class Subject(models.Model):
    """One data subject (a customer, a signer) and the key their personal values are sealed
    with. Erasure destroys the key and forgets the reference: the sealed values, wherever
    they were copied (the log included), can no longer be read."""

    # An HMAC of the normalised reference (an email, a customer id, a name) under a sub-key of
    # the audit key (privacy.sealing.ref_digests), never the reference itself; None once
    # erased, so a later event about the same person starts a new subject instead of
    # reviving the old one.
    ref_digest = models.CharField(max_length=64, unique=True, null=True, blank=True)
    key = models.BinaryField(null=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    erased_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        permissions = [("erase_subject", "Can erase a data subject's personal data")]

    def __str__(self) -> str:
        return f"subject #{self.pk}{' (erased)' if self.erased_at else ''}"
