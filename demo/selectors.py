"""Reads of the demo app: whose mail a person may read."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from demo.models import ReceivedMail

READ_ALL_MAIL = "demo.read_all_mail"


def mail_for(*, user) -> QuerySet[ReceivedMail]:
    """Every mail for a superuser or a holder of `demo.read_all_mail`; otherwise the
    person's own inbox: mail sent to their address."""
    mail = ReceivedMail.objects.all()
    if user.is_superuser or user.has_perm(READ_ALL_MAIL):
        return mail
    address = (user.email or "").strip().lower()
    if not address:
        return mail.none()
    return mail.filter(
        Q(recipients=address)
        | Q(recipients__startswith=f"{address}\n")
        | Q(recipients__endswith=f"\n{address}")
        | Q(recipients__contains=f"\n{address}\n")
    )
