import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from audit.models import Event
from processes.invoices.models import Invoice
from processes.orders.models import Order

pytestmark = pytest.mark.django_db


def test_seed_demo_can_run_twice_without_duplicating(capsys):
    call_command("seed_demo", "--password", "pw-for-tests-123")
    first = (
        User.objects.count(),
        Order.objects.count(),
        Invoice.objects.count(),
        Event.objects.count(),
    )
    assert first[2] == 4
    call_command("seed_demo", "--password", "pw-for-tests-123")
    again = (
        User.objects.count(),
        Order.objects.count(),
        Invoice.objects.count(),
        Event.objects.count(),
    )
    assert again == first
    assert "0 user(s), 0 order(s) and 0 invoice(s) created" in capsys.readouterr().out
    assert User.objects.get(username="admin").check_password("pw-for-tests-123")
    assert User.objects.get(username="reviewer").has_perm("processes.review_order")
    assert User.objects.get(username="reviewer").has_perm("approvals.work_reviewtask")
    assert User.objects.get(username="director").has_perm("processes.finance_approve_invoice")


def test_every_demo_user_reads_their_mail_and_a_supervisor_reads_all_of_it():
    from demo.seed import USERS

    call_command("seed_demo", "--password", "pw-for-tests-123")
    for username, _, _ in USERS:
        user = User.objects.get(username=username)
        assert user.email == f"{username}@opscore.invalid"
        assert user.has_perm("demo.view_receivedmail"), username
    assert User.objects.get(username="supervisor").has_perm("demo.read_all_mail")
    assert not User.objects.get(username="reviewer").has_perm("demo.read_all_mail")
