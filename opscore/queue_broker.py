"""django-q2's ORM broker, taking the oldest queue rows first.

django-q2's own ORM broker reads a poll's rows with no ORDER BY, so PostgreSQL hands back
whatever its heap holds first: once acknowledged rows are deleted and their space reused, a
step enqueued now can be taken before one that has waited for minutes, and under a backlog
the oldest wait longest. It then locks each row with an UPDATE of its own.

On PostgreSQL this broker takes up to `bulk` rows in one statement, oldest first, skipping
rows another cluster is taking at that moment (`FOR UPDATE SKIP LOCKED`) instead of racing
for them. Elsewhere (SQLite's single writer) it is django-q2's broker in id order. The
`lock` column keeps django-q2's meaning: a taken row is invisible until `retry` seconds pass,
then another cluster may take it again (a worker died with it).
"""

from __future__ import annotations

from time import sleep

from django.db import connections
from django.utils import timezone
from django_q.brokers.orm import ORM
from django_q.conf import Conf
from django_q.models import OrmQ


def _take_statement() -> str:
    table = connections[Conf.ORM].ops.quote_name(OrmQ._meta.db_table)
    return (
        f"UPDATE {table} SET lock = %(until)s WHERE id IN ("  # noqa: S608 - the model's table
        f"SELECT id FROM {table} WHERE key = %(key)s AND lock < %(now)s "
        "ORDER BY id LIMIT %(bulk)s FOR UPDATE SKIP LOCKED) RETURNING id, payload"
    )


class OldestFirstORM(ORM):
    """`Q_CLUSTER["broker_class"]`: see the module's docstring."""

    def dequeue(self) -> list[tuple[int, str]] | None:
        queue = self.get_connection()  # closes a stale connection first, as django-q2 does
        connection = connections[Conf.ORM]
        if connection.vendor == "postgresql":
            now = timezone.now()
            with connection.cursor() as cursor:
                cursor.execute(
                    _take_statement(),
                    {
                        "until": self.timeout(None),
                        "key": self.list_key,
                        "now": now,
                        "bulk": Conf.BULK,
                    },
                )
                taken = sorted(cursor.fetchall())
        else:
            taken = []
            waiting = queue.filter(key=self.list_key, lock__lt=timezone.now()).order_by("id")
            for row in waiting[: Conf.BULK]:
                if queue.filter(id=row.id, lock=row.lock).update(lock=self.timeout(row)):
                    taken.append((row.pk, row.payload))
        if taken:
            return taken
        sleep(Conf.POLL)  # an empty queue: wait before the next poll, as django-q2 does
        return None
