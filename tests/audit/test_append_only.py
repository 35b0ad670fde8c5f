import itertools

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from audit.models import Event
from tests.factories import start_order

pytestmark = pytest.mark.django_db


def test_update_of_an_event_is_refused_by_the_database():
    start_order()
    event = Event.objects.first()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        Event.objects.filter(pk=event.pk).update(type="tampered")
    assert Event.objects.get(pk=event.pk).type == "workflow.started"


def test_update_through_raw_sql_is_refused_too():
    start_order()
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE audit_event SET actor_ref = 'someone else'")
    assert not Event.objects.filter(actor_ref="someone else").exists()


def test_delete_of_an_event_is_refused_by_the_database():
    start_order()
    count = Event.objects.count()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        Event.objects.all().delete()
    assert Event.objects.count() == count


@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_truncate_is_refused_on_postgresql(live_db):
    # Committed rows: PostgreSQL refuses TRUNCATE of rows inserted in the same transaction
    # for another reason (pending FK checks), which would hide what this test is about.
    start_order()
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("TRUNCATE audit_event CASCADE")
    assert Event.objects.exists()


def test_events_chain_each_to_the_one_before():
    start_order()
    start_order()
    events = list(Event.objects.order_by("seq"))
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    for previous, event in itertools.pairwise(events):
        assert event.prev_hash == previous.hash
    call_command("verify_audit", "--quiet")
