"""The audit jobs django-q2 runs."""

from audit.anchor_delivery import deliver_to_configured_endpoint
from audit.services import write_checkpoint


class AnchorDeliveryFailed(RuntimeError):
    """The checkpoint is on file but the outbound endpoint has not taken it yet."""


def write_audit_checkpoint() -> str:
    """Append a checkpoint, then send every pending one to the outbound endpoint, if any.

    A failed delivery raises after the file is written, so django-q2 lists the task as
    failed; the checkpoints stay pending and the next run sends them.
    """
    checkpoint = write_checkpoint()
    result = "log unchanged" if checkpoint is None else f"checkpoint at #{checkpoint.seq}"
    delivery = deliver_to_configured_endpoint()
    if delivery is None:
        return result
    if not delivery.ok:
        raise AnchorDeliveryFailed(f"{result}; delivery stopped: {delivery.error}")
    return f"{result}; delivered {len(delivery.delivered)} to the anchor endpoint"
