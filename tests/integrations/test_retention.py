"""Refused requests are kept for the retention window, then purged: daily, or by command."""

import importlib
from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.apps import apps
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from django.utils.module_loading import import_string
from rest_framework.test import APIClient

from integrations import services
from integrations.models import Rejection

pytestmark = pytest.mark.django_db


def _refused_request() -> None:
    """Junk with no key: refused with 401 and recorded, as anyone on the network can do."""
    response = APIClient().post("/api/v1/events", b"junk", content_type="application/json")
    assert response.status_code == 401


def _refused_days_ago(days: float) -> None:
    with time_machine.travel(timezone.now() - timedelta(days=days), tick=False):
        _refused_request()


def _ages_in_days() -> list[int]:
    now = timezone.now()
    received = Rejection.objects.values_list("received_at", flat=True)
    return sorted((now - moment).days for moment in received)


def test_rejections_older_than_the_window_are_purged_and_recent_ones_kept(settings):
    settings.OPSCORE_REJECTION_RETENTION_DAYS = 30
    _refused_days_ago(45)
    _refused_days_ago(31)
    _refused_days_ago(29)
    _refused_request()
    assert Rejection.objects.count() == 4

    assert services.purge_rejections() == 2

    assert _ages_in_days() == [0, 29]


def test_a_backlog_larger_than_one_batch_is_purged_whole(monkeypatch):
    monkeypatch.setattr(services.rejections, "PURGE_BATCH", 3)
    for _ in range(7):
        _refused_days_ago(40)
    _refused_request()

    assert services.purge_rejections(older_than=timedelta(days=30)) == 7
    assert _ages_in_days() == [0]


def test_the_command_purges_by_days_and_says_how_many():
    _refused_days_ago(10)
    _refused_request()
    out = StringIO()

    call_command("purge_rejections", "--days", "7", stdout=out)

    assert out.getvalue().strip() == "purged 1 rejections received more than 7 days ago"
    assert _ages_in_days() == [0]


def test_the_command_refuses_a_window_of_less_than_a_day():
    with pytest.raises(CommandError, match="at least 1"):
        call_command("purge_rejections", "--days", "0")


def test_the_daily_schedule_points_at_a_real_task(settings):
    from django_q.models import Schedule

    settings.OPSCORE_REJECTION_RETENTION_DAYS = 30
    # The migration's own function, as a flushed test database may have lost its row.
    migration = importlib.import_module("integrations.migrations.0002_purge_rejections_schedule")
    migration.create_schedule(apps, None)
    schedule = Schedule.objects.get(name="opscore.purge_rejections")
    _refused_days_ago(60)

    assert (schedule.schedule_type, schedule.repeats) == (Schedule.DAILY, -1)
    assert import_string(schedule.func)() == "purged 1 rejections"
    assert not Rejection.objects.exists()
