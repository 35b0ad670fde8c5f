"""While `migrate` runs its system checks, the checks that judge stored rows stand aside.

Those checks judge what operators and data migrations keep in tables: groups and their
permissions, escalation policies, rule sets, trigger bindings, the states live instances sit
in. Django runs database-tagged checks before `migrate`, so judged there, a state that a pending
migration would repair refuses the migration that repairs it, and a database whose groups an
operator has not configured yet refuses every later release's `migrate`. They report through
`manage.py check --database default` instead (which `dev.py lint` runs).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_migrating: ContextVar[bool] = ContextVar("opscore_migrating", default=False)


@contextmanager
def checking_before_migrate() -> Iterator[None]:
    token = _migrating.set(True)
    try:
        yield
    finally:
        _migrating.reset(token)


def stored_rows_judged() -> bool:
    """False while `migrate` checks: a check that reads stored rows returns nothing then."""
    return not _migrating.get()
