"""Events join the hash chain when their transaction commits, not when they are appended.

The chain head is a single row. Locking it at a transaction's first append serialized every
writer from that append to its commit, whatever else the transaction did in between, so one
slow transaction stalled all the others. Instead each connection keeps the events its open
transaction has appended; just before COMMIT they are chained under the head lock and written
in one INSERT. The lock is held for three statements and the commit, and the chain still
follows commit order: sequence numbers stay gapless, each row carries the hash of the one
before it, and an event commits or rolls back with the change it records.

Savepoints are honoured: events appended inside a savepoint that is rolled back are dropped.
Under Django's TestCase, whose own atomic blocks wrap every test and never commit, the
outermost block opened by opscore code counts as the commit.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from django.utils import timezone

from audit.hashing import GENESIS_HASH, event_hash
from audit.keys import signing_key
from opscore.bulk_insert import insert_statement
from opscore.numbered_sql import numbered_cursor, placeholder

if TYPE_CHECKING:
    from audit.models import Event


class PendingEvents:
    """Events appended in a connection's open transaction, in append order."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._marks: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.events)

    def add(self, event: Event) -> None:
        self.events.append(event)

    def mark(self, savepoint_id: str) -> None:
        self._marks[savepoint_id] = len(self.events)

    def roll_back_to(self, savepoint_id: str) -> None:
        mark = self._marks.get(savepoint_id)
        if mark is not None:
            del self.events[mark:]

    def release(self, savepoint_id: str) -> None:
        self._marks.pop(savepoint_id, None)

    def take(self) -> list[Event]:
        events, self.events = self.events, []
        return events

    def clear(self) -> None:
        self.events = []
        self._marks = {}


def opscore_transaction_open(connection) -> bool:
    """True inside an atomic block opened by opscore code (TestCase's own blocks don't count)."""
    return any(not block._from_testcase for block in connection.atomic_blocks)


def write_pending_events(connection) -> int:
    """Chain and insert the connection's pending events inside its still-open transaction;
    return how many were written.

    Two statements, written as SQL rather than through the ORM (whose compilers cost more
    CPU than the database's work here, all of it while the head is locked): the head read
    under its row lock, then the events and the new head in one statement on PostgreSQL (a
    data-modifying CTE), two on SQLite.
    """
    from opscore.metrics import CHAIN_HEAD_WAIT

    events = connection.pending_events.take()
    if not events:
        return 0
    waiting_since = time.monotonic()
    head = _locked_head(connection)
    CHAIN_HEAD_WAIT.observe(time.monotonic() - waiting_since)
    last_seq, last_hash = head
    recorded_at = timezone.now()
    key_id, key = signing_key()
    for event in events:
        last_seq += 1
        event.seq = last_seq
        event.prev_hash = last_hash
        event.recorded_at = recorded_at
        event.occurred_at = event.occurred_at or recorded_at
        event.key_id = key_id
        event.hash = last_hash = event_hash(
            seq=event.seq,
            occurred_at=event.occurred_at,
            recorded_at=event.recorded_at,
            type=event.type,
            instance_type_id=event.instance_type_id,
            instance_id=event.instance_id,
            actor_kind=event.actor_kind,
            actor_ref=event.actor_ref,
            payload=event.payload,
            prev_hash=event.prev_hash,
            key_id=key_id,
            key=key,
        )
    _insert_and_advance(connection, events=events, last_seq=last_seq, last_hash=last_hash)
    for event in events:
        event._state.adding = False
        event._state.db = connection.alias
    return len(events)


def _locked_head(connection) -> tuple[int, str]:
    # SQLite's single writer (BEGIN IMMEDIATE) is its lock; it has no FOR UPDATE.
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    read = f"SELECT last_seq, last_hash FROM audit_chain_head WHERE id = 1{lock}"  # noqa: S608 - constant
    with connection.cursor() as cursor:
        cursor.execute(read)
        head = cursor.fetchone()
        if head is None:
            # The migration creates the head; only an emptied database (a test flush) lacks
            # it, and concurrent first writers must not both create it.
            cursor.execute(
                "INSERT INTO audit_chain_head (id, last_seq, last_hash) VALUES (1, 0, %s) "
                "ON CONFLICT (id) DO NOTHING",
                [GENESIS_HASH],
            )
            cursor.execute(read)
            head = cursor.fetchone()
    return head[0], head[1]


def _insert_and_advance(connection, *, events: list[Event], last_seq: int, last_hash: str) -> None:
    insert, values = insert_statement(connection, events)
    written = len(values)
    advance = (  # placeholders only
        f"UPDATE audit_chain_head SET last_seq = {placeholder(connection, written + 1)}, "  # noqa: S608
        f"last_hash = {placeholder(connection, written + 2)} WHERE id = 1"
    )
    with numbered_cursor(connection) as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"WITH written AS ({insert}) {advance}", [*values, last_seq, last_hash])
        else:
            cursor.execute(insert, values)
            cursor.execute(advance, [last_seq, last_hash])


class ChainEventsAtCommit:
    """Database wrapper mixin: writes pending events before COMMIT, drops them on rollback.

    The database engines (`audit.db.postgresql`, `audit.db.sqlite3`) are Django's
    own with this mixin; `audit.checks` refuses to start on an engine without it.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.pending_events = PendingEvents()

    def commit(self) -> None:
        from opscore.metrics import EVENTS_APPENDED

        written = 0
        if self.pending_events:
            try:
                written = write_pending_events(self)
            except BaseException:
                self.rollback()
                raise
        super().commit()
        if written:
            EVENTS_APPENDED.inc(written)

    def rollback(self) -> None:
        self.pending_events.clear()
        super().rollback()

    def close(self) -> None:
        self.pending_events.clear()
        super().close()

    def savepoint(self):
        savepoint_id = super().savepoint()
        if savepoint_id is not None:
            self.pending_events.mark(savepoint_id)
        return savepoint_id

    def savepoint_rollback(self, sid) -> None:
        super().savepoint_rollback(sid)
        self.pending_events.roll_back_to(sid)

    def savepoint_commit(self, sid) -> None:
        super().savepoint_commit(sid)
        self.pending_events.release(sid)
        if self.pending_events and not opscore_transaction_open(self):
            # Under TestCase the outermost opscore block ends in a savepoint release, and
            # its events must be in the table before the test reads them.
            from opscore.metrics import EVENTS_APPENDED

            EVENTS_APPENDED.inc(write_pending_events(self))
