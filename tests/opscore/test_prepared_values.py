"""The values multi-row INSERTs send are the ones Django's `get_db_prep_save` would send."""

import uuid
import warnings
from datetime import UTC, datetime

import pytest
from django.db import connection, models
from django_q.models import OrmQ

from audit.models import Event
from opscore.prepared_values import preparers
from processes.orders.models import Order
from tests.factories import start_order
from workflows.models import Execution

pytestmark = pytest.mark.django_db


def _as_sent(value):
    # Django wraps JSON in an adapter object without equality; compare what it wraps.
    return (type(value), getattr(value, "obj", value))


SAMPLES = {
    models.CharField(max_length=20): ["text", "", None, 42, "ünïcode ✓"],
    models.SlugField(): ["a-slug", None, 7],
    models.TextField(): ["long text", None, 3.5],
    models.UUIDField(): [uuid.uuid4(), None, "12345678-1234-5678-1234-567812345678"],
    models.BooleanField(): [True, False, None, 1, 0],
    models.DateTimeField(): [datetime(2026, 11, 29, 12, tzinfo=UTC), None, "2026-11-29 12:00Z"],
    models.EmailField(): ["a@example.com", None],  # a CharField subclass: not shortcut
    models.IntegerField(): [5, None, "6", True],
    models.BigIntegerField(): [2**40, None, 7.0],
    models.PositiveSmallIntegerField(): [3, None],
    models.BigAutoField(): [9, None, "10"],
    models.JSONField(): [{"a": [1, "b"]}, None, "text"],
}


@pytest.mark.parametrize("field", list(SAMPLES), ids=lambda field: type(field).__name__)
def test_every_sample_value_is_prepared_as_django_prepares_it(field):
    field.set_attributes_from_name("sample")
    (prepare,) = preparers(connection, [field])
    for value in SAMPLES[field]:
        assert _as_sent(prepare(value, connection)) == _as_sent(
            field.get_db_prep_save(value, connection)
        ), value


def test_a_naive_datetime_still_gets_djangos_warning_and_time_zone():
    field = models.DateTimeField()
    field.set_attributes_from_name("sample")
    (prepare,) = preparers(connection, [field])
    naive = datetime(2026, 11, 29, 12)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        prepared = prepare(naive, connection)
        assert any("naive datetime" in str(warning.message) for warning in caught)
        assert _as_sent(prepared) == _as_sent(field.get_db_prep_save(naive, connection))


@pytest.mark.parametrize(
    "model", [Order, Order.history.model, Execution, OrmQ, Event], ids=lambda m: m.__name__
)
def test_the_rows_a_started_order_writes_prepare_as_django_prepares_them(model):
    start_order()
    row = model._default_manager.order_by("pk").first()
    assert row is not None
    fields = model._meta.concrete_fields
    for field, prepare in zip(fields, preparers(connection, fields), strict=True):
        value = getattr(row, field.attname)
        assert _as_sent(prepare(value, connection)) == _as_sent(
            field.get_db_prep_save(value, connection)
        ), field.name
