"""The task queue hands out the oldest waiting steps first, whatever order the database keeps
its rows in, and a taken row is not handed out again until django-q2's retry time passes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.conf import Conf
from django_q.models import OrmQ

from opscore.queue_broker import OldestFirstORM

pytestmark = pytest.mark.django_db


def _row(pk: int, *, lock=None) -> OrmQ:
    return OrmQ.objects.create(
        id=pk, key=Conf.CLUSTER_NAME, payload=f"task-{pk}", lock=lock or timezone.now()
    )


def test_the_cluster_uses_the_oldest_first_broker():
    assert isinstance(get_broker(), OldestFirstORM)


def test_the_oldest_waiting_rows_are_taken_first_whatever_their_place_on_disk():
    # Written newest first: a heap scan (django-q2's own broker) meets row 900 before the rest.
    _row(900)
    for pk in (3, 1, 2, 4, 5):
        _row(pk)
    broker = get_broker()

    first = broker.dequeue()
    second = broker.dequeue()

    assert Conf.BULK == 4  # OPSCORE_Q_BULK's default
    assert first == [(1, "task-1"), (2, "task-2"), (3, "task-3"), (4, "task-4")]
    assert second == [(5, "task-5"), (900, "task-900")]


def test_a_taken_row_is_not_handed_out_again_until_its_retry_time():
    _row(1)
    _row(2, lock=timezone.now() + timedelta(seconds=30))  # taken by another cluster
    broker = get_broker()

    (taken,) = broker.dequeue()

    assert taken == (1, "task-1")
    locked_until = OrmQ.objects.get(pk=1).lock
    assert locked_until > timezone.now() + timedelta(seconds=Conf.RETRY - 5)
    assert broker.dequeue() is None  # nothing else visible: row 2 is still taken
