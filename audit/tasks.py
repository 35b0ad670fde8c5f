"""django-q2 entry points of the audit app."""

from audit.services import write_checkpoint


def write_audit_checkpoint() -> str:
    checkpoint = write_checkpoint()
    return "log unchanged" if checkpoint is None else f"checkpoint at #{checkpoint.seq}"
