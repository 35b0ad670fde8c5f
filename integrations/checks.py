"""Start-up checks of the trigger layer: every stored binding reaches only what it may."""

from __future__ import annotations

from django.core import checks
from django.db import connection
from django.db.utils import DatabaseError

from opscore.migrating import stored_rows_judged


def check_trigger_bindings(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """integrations.E001 for each binding the rule of `TriggerBinding.clean` refuses: one
    written before the rule, or around it, would otherwise sit there until an event used it
    (and then be refused by the engine)."""
    from integrations.models import TriggerBinding, binding_errors

    if not stored_rows_judged():
        return []  # before `migrate`: a data migration may be what repoints them
    try:
        if TriggerBinding._meta.db_table not in connection.introspection.table_names():
            return []  # not migrated yet: nothing stored to check
        bindings = list(TriggerBinding.objects.select_related("event_type"))
    except DatabaseError:
        return []  # no database to read (e.g. `check` before it is reachable)
    found = []
    for binding in bindings:
        errors = binding_errors(
            action=binding.action, workflow=binding.workflow, transition=binding.transition
        )
        if errors:
            found.append(
                checks.Error(
                    f"trigger binding {binding.pk} ({binding.event_type}) {binding.action}s "
                    f"workflow {binding.workflow!r} transition {binding.transition!r}: "
                    + "; ".join(errors.values()),
                    hint="Point it at a signal its workflow declares, or delete it.",
                    obj=binding,
                    id="integrations.E001",
                )
            )
    return found
