"""The demo's SMTP sink keeps every mail it receives, and people read it in admin."""

from __future__ import annotations

from django.core.mail import EmailMultiAlternatives, send_mail
from django.test import Client
from django.urls import reverse

from demo.models import ReceivedMail
from tests.conftest import wait_until

CHANGELIST = "admin:demo_receivedmail_changelist"


def _received(count: int) -> list[ReceivedMail]:
    assert wait_until(lambda: ReceivedMail.objects.count() >= count, timeout=10)
    return list(ReceivedMail.objects.order_by("id"))


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_mail_sent_over_smtp_is_kept_with_sender_recipients_subject_and_body(mail_sink):
    message = EmailMultiAlternatives(
        subject="[opscore] Escalated (level 1): order DEMO-0003 is overdue",
        body="Open the task: https://ops.example.test/admin/approvals/reviewtask/7/change/\n",
        from_email="opscore@localhost",
        to=["Supervisor@opscore.invalid", "lead@opscore.invalid"],
    )
    message.attach_alternative("<p>Open the task</p>", "text/html")
    message.send()

    [mail] = _received(1)
    assert mail.envelope_from == "opscore@localhost"
    assert mail.recipient_list == ["lead@opscore.invalid", "supervisor@opscore.invalid"]
    assert mail.subject == "[opscore] Escalated (level 1): order DEMO-0003 is overdue"
    assert "https://ops.example.test/admin/approvals/reviewtask/7/change/" in mail.body
    assert mail.html.strip() == "<p>Open the task</p>"
    assert "Subject: [opscore] Escalated" in mail.raw


def test_a_supervisor_reads_every_mail_in_admin_with_its_links_clickable(mail_sink, demo_user):
    supervisor = demo_user("supervisor", "supervisors")
    send_mail(
        "Reminder: order DEMO-0001 is due",
        "Open it: https://ops.example.test/admin/approvals/reviewtask/1/change/ <now>",
        "opscore@localhost",
        ["reviewers-lead@opscore.invalid"],
    )
    [mail] = _received(1)
    client = _client(supervisor)

    listing = client.get(reverse(CHANGELIST))
    page = client.get(reverse("admin:demo_receivedmail_change", args=[mail.pk]))

    assert listing.status_code == 200
    assert "Reminder: order DEMO-0001 is due" in listing.text
    assert "reviewers-lead@opscore.invalid" in listing.text
    assert page.status_code == 200
    assert (
        '<a href="https://ops.example.test/admin/approvals/reviewtask/1/change/" rel="nofollow">'
        in page.text
    )
    assert "&lt;now&gt;" in page.text  # the body is escaped, not rendered as HTML
    assert 'name="_save"' not in page.text  # read only
    assert client.post(reverse("admin:demo_receivedmail_delete", args=[mail.pk])).status_code == 403
    assert ReceivedMail.objects.filter(pk=mail.pk).exists()


def test_everyone_else_reads_only_their_own_mail(mail_sink, demo_user):
    reviewer = demo_user("reviewer", "reviewers")
    send_mail("For the reviewer", "yours", "opscore@localhost", ["reviewer@opscore.invalid"])
    send_mail("For a supervisor", "not yours", "opscore@localhost", ["supervisor@opscore.invalid"])
    send_mail("Look-alike", "not yours", "opscore@localhost", ["xreviewer@opscore.invalid"])
    for_reviewer, for_supervisor, look_alike = _received(3)
    client = _client(reviewer)

    listing = client.get(reverse(CHANGELIST))
    other = client.get(reverse("admin:demo_receivedmail_change", args=[for_supervisor.pk]))

    assert "For the reviewer" in listing.text
    assert "For a supervisor" not in listing.text
    assert "Look-alike" not in listing.text
    assert other.status_code == 302  # admin's "does not exist": nothing of it is shown
    assert "not yours" not in client.get(other.url).text
    own = client.get(reverse("admin:demo_receivedmail_change", args=[for_reviewer.pk]))
    assert own.status_code == 200
    assert look_alike.pk != for_reviewer.pk
