import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from audit.models import Event
from workflows.models import Order

pytestmark = pytest.mark.django_db


def test_seed_demo_can_run_twice_without_duplicating(capsys):
    call_command("seed_demo", "--password", "pw-for-tests-123")
    first = (User.objects.count(), Order.objects.count(), Event.objects.count())
    call_command("seed_demo", "--password", "pw-for-tests-123")
    assert (User.objects.count(), Order.objects.count(), Event.objects.count()) == first
    assert "0 user(s) and 0 order(s) created" in capsys.readouterr().out
    assert User.objects.get(username="admin").check_password("pw-for-tests-123")
    assert User.objects.get(username="reviewer").has_perm("workflows.review_order")
