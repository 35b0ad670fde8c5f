"""The jobs' former dotted paths (`audit.tasks.<name>`), kept importable: django-q2 rows
queued before the jobs moved to `audit.jobs` name them, and must still run."""

from audit.jobs import AnchorDeliveryFailed, write_audit_checkpoint

__all__ = [
    "AnchorDeliveryFailed",
    "write_audit_checkpoint",
]
