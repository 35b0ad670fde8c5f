"""Demo use cases: keep a mail the local SMTP sink received."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage

from demo.models import ReceivedMail


def _part(message: EmailMessage, subtype: str) -> str:
    part = message.get_body(preferencelist=(subtype,))
    if part is None or part.get_content_subtype() != subtype:
        return ""
    return part.get_content()


def record_received_mail(
    *, envelope_from: str, recipients: list[str], content: bytes
) -> ReceivedMail:
    """Store one message as received; a message that does not parse is still kept, raw."""
    raw = content.decode("utf-8", errors="replace")
    subject = body = html = ""
    try:
        message = message_from_bytes(content, policy=policy.default)
        subject = str(message.get("subject", ""))
        body = _part(message, "plain")
        html = _part(message, "html")
    except (ValueError, LookupError, TypeError):  # a malformed message: the raw text says all
        body = raw
    return ReceivedMail.objects.create(
        envelope_from=envelope_from[:254],
        recipients="\n".join(sorted({address.strip().lower() for address in recipients})),
        subject=subject.replace("\n", " ")[:998],
        body=body,
        html=html,
        raw=raw,
    )
