"""The audit chain's readiness check: can a writer take the chain head's lock in time."""

from __future__ import annotations

from django.conf import settings
from django.db import OperationalError, connection, transaction

from audit.models import ChainHead
from opscore.health import CheckFailed


class _RollBack(Exception):
    pass


def check_chain_head() -> str:
    """The head row is lockable within OPSCORE_READY_CHAIN_LOCK_TIMEOUT_MS, then let go.

    Every commit that carries events locks this row (audit/chaining.py); a head held for
    longer than the bound means appends are stalled. On PostgreSQL the probe takes the same
    FOR UPDATE lock under a `lock_timeout` and rolls back, so it never holds the row beyond
    the bound and never writes. SQLite has no row locks (a writer locks the whole file, and
    the database check already waited on it), so there it reads the row.
    """
    timeout_ms = settings.OPSCORE_READY_CHAIN_LOCK_TIMEOUT_MS
    if connection.vendor != "postgresql":
        found = ChainHead.objects.filter(pk=1).exists()
        return "head readable" if found else "no head yet; the first append creates it"
    found = False
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                # SET LOCAL ends with the transaction (or the savepoint rolled back below).
                cursor.execute(f"SET LOCAL lock_timeout = {int(timeout_ms)}")
            locked = ChainHead.objects.select_for_update().filter(pk=1).values_list("pk", flat=True)
            found = bool(list(locked))
            raise _RollBack
    except _RollBack:
        pass
    except OperationalError:
        raise CheckFailed(f"the chain head stayed locked for over {timeout_ms} ms") from None
    if not found:
        return "no head yet; the first append creates it"
    return f"head locked within {timeout_ms} ms and released"
