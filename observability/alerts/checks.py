"""The consistency checks on a schedule: verify the audit chain, compare the projections with
the log, and keep each result as a `CheckRun` for the alert rules and the metrics to read."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.utils import timezone

from approvals.projections import compare_tasks_with_table
from audit.anchors import AnchorError, latest_checkpoint
from audit.selectors import verify_chain
from observability.models import CheckName, CheckRun
from workflows import registry
from workflows.projections import compare_with_tables

# Enough differences to start from; the command `rebuild_projections` lists them all.
MISMATCHES_KEPT = 20


def _verify_audit() -> tuple[bool, dict[str, Any]]:
    try:
        checkpoint = latest_checkpoint()
    except AnchorError as error:
        return False, {"error": f"audit checkpoint refused: {error}"}
    report = verify_chain(checkpoint=checkpoint)
    detail: dict[str, Any] = {
        "checked": report.checked,
        "checkpoint": checkpoint.seq if checkpoint is not None else None,
    }
    if not report.intact:
        detail["first_break"] = report.first_break.seq
        detail["error"] = f"chain broken at #{report.first_break.seq}: {report.first_break.reason}"
    return report.intact, detail


def _projection_check() -> tuple[bool, dict[str, Any]]:
    rebuilt: dict[str, int] = {}
    mismatches: list[str] = []
    differences = 0
    for definition in registry.all_definitions():
        report = compare_with_tables(definition=definition)
        rebuilt[definition.name] = report.rebuilt
        mismatches += report.mismatches[:MISMATCHES_KEPT]
        differences += report.differences
    tasks = compare_tasks_with_table()
    rebuilt["review tasks"] = tasks.rebuilt
    mismatches += tasks.mismatches[:MISMATCHES_KEPT]
    differences += tasks.differences
    detail: dict[str, Any] = {"rebuilt": rebuilt, "mismatches": differences}
    if differences:
        detail["first_mismatches"] = mismatches[:MISMATCHES_KEPT]
        detail["error"] = f"{differences} difference(s) between the log and the tables"
    return not differences, detail


CHECKS: dict[str, Callable[[], tuple[bool, dict[str, Any]]]] = {
    CheckName.VERIFY_AUDIT: _verify_audit,
    CheckName.PROJECTION_CHECK: _projection_check,
}


def run_check(*, name: str) -> CheckRun:
    """Run one consistency check and record its result; a check that raises is a failure."""
    started = timezone.now()
    try:
        ok, detail = CHECKS[name]()
    except Exception as error:  # the result must be recorded whatever went wrong
        ok, detail = False, {"error": f"check raised {type(error).__name__}: {error}"[:500]}
    return CheckRun.objects.create(
        name=name, started_at=started, finished_at=timezone.now(), ok=ok, detail=detail
    )


def run_consistency_checks() -> list[CheckRun]:
    return [run_check(name=name) for name in CHECKS]
