"""Events join the chain when their transaction commits, in commit order, and only if it does."""

import threading

import pytest
from django.core.management import call_command
from django.db import connection, transaction

from audit.models import Event
from opscore.actors import SYSTEM
from tests.factories import start_order
from workflows import engine


def _chain() -> list[tuple[int, str]]:
    return list(Event.objects.order_by("seq").values_list("seq", "type"))


@pytest.mark.django_db
def test_events_of_a_rolled_back_savepoint_never_reach_the_log():
    with transaction.atomic():
        order = start_order()
        try:
            with transaction.atomic():
                engine.record_step_event(
                    instance=order, type="step.note", actor=SYSTEM, payload={"n": 1}
                )
                raise RuntimeError("the inner change fails")
        except RuntimeError:
            pass
        engine.record_step_event(instance=order, type="step.kept", actor=SYSTEM, payload={})

    types = [type for _, type in _chain()]
    assert "step.note" not in types
    assert types[-1] == "step.kept"
    assert [seq for seq, _ in _chain()] == list(range(1, len(types) + 1))
    call_command("verify_audit", "--quiet")


@pytest.mark.django_db
def test_a_rolled_back_transaction_leaves_no_event_and_no_gap():
    start_order()
    before = _chain()

    def start_then_fail() -> None:
        with transaction.atomic():
            start_order()
            raise RuntimeError("the change fails after its events were appended")

    with pytest.raises(RuntimeError):
        start_then_fail()
    start_order()

    after = _chain()
    assert after[: len(before)] == before
    assert [seq for seq, _ in after] == list(range(1, len(after) + 1))
    assert len(after) == 2 * len(before)
    call_command("verify_audit", "--quiet")


@pytest.mark.django_db
def test_append_returns_the_event_chained_once_its_transaction_commits():
    with transaction.atomic():
        order = start_order()
        event = engine.record_step_event(
            instance=order, type="step.note", actor=SYSTEM, payload={"n": 1}
        )
        assert event.seq is None, "chained before the transaction committed"
    stored = Event.objects.get(type="step.note")
    assert (event.seq, event.hash) == (stored.seq, stored.hash)


@pytest.mark.postgres
def test_a_long_transaction_does_not_hold_up_other_writers(live_db):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: concurrent writers (SQLite runs one at a time)")
    slow_has_appended = threading.Event()
    release_slow = threading.Event()
    finished: list[str] = []

    def slow_writer() -> None:
        try:
            with transaction.atomic():
                start_order(correlation_key="slow")
                slow_has_appended.set()
                release_slow.wait(timeout=30)
            finished.append("slow")
        finally:
            connection.close()

    def quick_writer() -> None:
        try:
            start_order(correlation_key="quick")
            finished.append("quick")
        finally:
            connection.close()

    slow = threading.Thread(target=slow_writer)
    slow.start()
    assert slow_has_appended.wait(timeout=30)
    quick = threading.Thread(target=quick_writer)
    quick.start()
    quick.join(timeout=15)
    quick_done_while_slow_open = not quick.is_alive()
    release_slow.set()
    slow.join(timeout=30)
    quick.join(timeout=30)

    assert quick_done_while_slow_open, "a writer waited for another transaction to commit"
    assert finished == ["quick", "slow"]
    # The chain follows commit order: the quick order's events come first.
    starts = list(
        Event.objects.filter(type="workflow.started")
        .order_by("seq")
        .values_list("payload__correlation_key", flat=True)
    )
    assert starts == ["quick", "slow"]
    call_command("verify_audit", "--quiet")


@pytest.mark.postgres
def test_concurrent_writers_build_one_gapless_intact_chain(live_db):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: concurrent writers (SQLite runs one at a time)")
    writers, orders_each = 6, 5
    barrier = threading.Barrier(writers)
    errors: list[BaseException] = []

    def write(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            for n in range(orders_each):
                start_order(correlation_key=f"w{index}-{n}")
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    seqs = list(Event.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))
    assert Event.objects.filter(type="workflow.started").count() == writers * orders_each
    call_command("verify_audit", "--quiet")
