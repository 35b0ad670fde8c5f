"""Many rows in one INSERT: the rows `QuerySet.bulk_create` would write, keys set on the objects."""

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from opscore.bulk_insert import insert_rows
from processes.orders.models import Order

pytestmark = pytest.mark.django_db


def _order(key: str) -> Order:
    return Order(
        correlation_key=key,
        context={"input": {"note": 'quotes " and \\ backslashes, 100% {braces}', "n": 1.5}},
    )


def test_rows_read_back_as_bulk_create_writes_them_with_their_keys_set():
    inserted = [_order(f"SO-INSERT-{n}") for n in range(3)]
    created = Order.objects.bulk_create([_order(f"SO-CREATE-{n}") for n in range(3)])

    insert_rows(inserted)

    assert all(order.pk is not None and not order._state.adding for order in inserted)
    for mine, theirs in zip(inserted, created, strict=True):
        read, reference = Order.objects.get(pk=mine.pk), Order.objects.get(pk=theirs.pk)
        assert read.correlation_key == mine.correlation_key
        assert read.created_at == mine.created_at
        for field in ("context", "state", "version", "definition_version", "started_by_id"):
            assert getattr(read, field) == getattr(reference, field)


def test_a_batch_past_djangos_parameter_guess_is_still_one_statement():
    orders = [_order(f"SO-MANY-{n}") for n in range(200)]  # 1,600 parameters
    with CaptureQueriesContext(connection) as captured:
        insert_rows(orders)
    assert len(captured) == 1
    assert Order.objects.filter(correlation_key__startswith="SO-MANY-").count() == 200


def test_a_unique_clash_raises_djangos_integrity_error_and_inserts_none():
    insert_rows([_order("SO-TAKEN")])
    with pytest.raises(IntegrityError), transaction.atomic():
        insert_rows([_order("SO-FREE"), _order("SO-TAKEN")])
    assert not Order.objects.filter(correlation_key="SO-FREE").exists()
