"""Workflow definitions are versioned like deploys.

Each instance records the `version` of the declaration it started under
(`WorkflowInstance.definition_version`). The shape of every version (its states, steps and
edges) is recorded, like a migration, in a JSON file beside the app that holds the workflow's
model: `<app>/workflow_versions/<workflow>/v<N>.json`, written by
`manage.py record_workflow_version <workflow>` and committed with the change. So the previous
shape is known from the repository, before any database is reachable, and a review shows it.

The checks (tag `workflows`):

- E030 the declaration's version has no recorded shape (record it)
- E031 the recorded shape of this version differs from the declaration (bump `version`)
- E032 a state or step of the previous version is gone and `moves` does not say where its live
  instances go: a removed state, or a renamed or removed step (instances waiting in it hold
  executions, timers or review tasks under its old name)
- E033 `moves` names a state the previous version did not have, or moves into one that is not
  an open state of this version
- E034 (database) live instances sit in a state the declaration does not have and `moves`
  does not cover

`moves = {old_state: new_state}` tells `manage.py move_instances <workflow>` where the live
instances of a state go; it moves them through the engine (`engine.move_instance`): recorded,
version bumped, the old step's work cancelled, the new state's step started.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core import checks

from opscore.migrating import stored_rows_judged
from workflows import registry
from workflows.declaration import WorkflowDefinition

VERSIONS_DIRECTORY = "workflow_versions"


def shape(definition: WorkflowDefinition) -> dict[str, Any]:
    """What live instances depend on: states, steps by state, and every edge."""
    return {
        "workflow": definition.name,
        "version": definition.version,
        "states": list(definition.states),
        "terminal": sorted(definition.terminal_states),
        "steps": {step.name: str(step.state) for step in definition.steps},
        "edges": {
            edge.name: {
                "sources": sorted(definition.sources_of(edge)),
                "target": str(edge.target),
                "fired_by": str(edge.fired_by),
            }
            for edge in sorted(definition.edges, key=lambda edge: edge.name)
        },
    }


def versions_directory(definition: WorkflowDefinition) -> Path:
    return Path(definition.model._meta.app_config.path) / VERSIONS_DIRECTORY / definition.name


def shape_path(definition: WorkflowDefinition, version: int) -> Path:
    return versions_directory(definition) / f"v{version}.json"


def shown_path(path: Path) -> str:
    try:
        return str(path.relative_to(Path(settings.BASE_DIR)))
    except ValueError:
        return str(path)


def recorded_shape(definition: WorkflowDefinition, version: int) -> dict[str, Any] | None:
    path = shape_path(definition, version)
    if not path.exists():
        return None
    return json.loads(path.read_text())


def previous_shape(definition: WorkflowDefinition) -> dict[str, Any] | None:
    """The recorded shape of the highest version below the declaration's."""
    directory = versions_directory(definition)
    older = sorted(
        (int(path.stem[1:]) for path in directory.glob("v*.json") if path.stem[1:].isdigit()),
        reverse=True,
    )
    for version in older:
        if version < definition.version:
            return recorded_shape(definition, version)
    return None


class ShapeConflict(Exception):
    pass


def record_shape(definition: WorkflowDefinition) -> Path | None:
    """Write this version's shape; None when it is recorded already. Refuses to rewrite a
    recorded version with another shape: that is a new version."""
    current = shape(definition)
    recorded = recorded_shape(definition, definition.version)
    if recorded == current:
        return None
    if recorded is not None:
        raise ShapeConflict(
            f"{definition.name} v{definition.version} is recorded with another shape; "
            f"bump {type(definition).__name__}.version to {definition.version + 1}"
        )
    path = shape_path(definition, definition.version)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n")
    return path


def _error(definition: WorkflowDefinition, where: str, message: str, *, id: str, hint: str = ""):
    return checks.Error(
        f"workflow {definition.name!r} {where}: {message}",
        hint=hint or None,
        obj=definition.model,
        id=id,
    )


@checks.register("workflows")
def check_versions(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    found: list[checks.CheckMessage] = []
    for definition in registry.all_definitions():
        found += version_errors(definition)
    return found


def version_errors(definition: WorkflowDefinition) -> list[checks.CheckMessage]:
    current = shape(definition)
    recorded = recorded_shape(definition, definition.version)
    found = []
    if recorded is None:
        found.append(
            _error(
                definition,
                f"version {definition.version}",
                "has no recorded shape",
                id="workflows.E030",
                hint=f"Run manage.py record_workflow_version {definition.name} and commit "
                f"{shown_path(shape_path(definition, definition.version))}.",
            )
        )
    elif recorded != current:
        found.append(
            _error(
                definition,
                f"version {definition.version}",
                "the declaration no longer has the shape recorded for this version",
                id="workflows.E031",
                hint=f"Bump version to {definition.version + 1}, declare `moves` for what it "
                "strands, and record it.",
            )
        )
    found += stranding_errors(definition, previous_shape(definition))
    found += move_target_errors(definition)
    return found


def stranding_errors(
    definition: WorkflowDefinition, previous: dict[str, Any] | None
) -> list[checks.CheckMessage]:
    if previous is None:
        return []
    found = []
    states = set(definition.states)
    moves = {str(old): str(new) for old, new in definition.moves.items()}
    old_version = previous["version"]
    old_open = [state for state in previous["states"] if state not in previous["terminal"]]
    for state in old_open:
        if state not in states and state not in moves:
            found.append(
                _error(
                    definition,
                    f"state {state!r}",
                    f"v{old_version} had it and v{definition.version} removes it: its live "
                    "instances would be stranded",
                    id="workflows.E032",
                    hint=f"Declare moves = {{{state!r}: <a state of v{definition.version}>}}.",
                )
            )
    current_steps = {step.name for step in definition.steps}
    for name, state in previous["steps"].items():
        if name not in current_steps and state not in moves:
            replaced = definition.step_for_state(state)
            instead = f" ({replaced.name!r} waits there now)" if replaced is not None else ""
            found.append(
                _error(
                    definition,
                    f"step {name!r}",
                    f"v{old_version} had it in state {state!r} and v{definition.version} does "
                    f"not{instead}: work pinned to it would be stranded",
                    id="workflows.E032",
                    hint=f"Declare moves = {{{state!r}: {state!r}}} to restart its instances "
                    "in the new step.",
                )
            )
    for old in moves:
        if old not in old_open:
            found.append(
                _error(
                    definition,
                    "moves",
                    f"{old!r} is not an open state of v{old_version}",
                    id="workflows.E033",
                )
            )
    return found


def move_target_errors(definition: WorkflowDefinition) -> list[checks.CheckMessage]:
    return [
        _error(
            definition,
            "moves",
            f"{str(old)!r} moves to {str(new)!r}, which is not an open state of "
            f"v{definition.version}",
            id="workflows.E033",
        )
        for old, new in definition.moves.items()
        if str(new) not in definition.open_states
    ]


@checks.register("workflows", checks.Tags.database)
def check_live_instances(app_configs=None, databases=None, **kwargs):
    """Live instances in a state the declaration lost: what no recorded shape can show (rows
    written before versions were recorded, or a state removed in the same version)."""
    from django.db import connection
    from django.db.utils import DatabaseError

    if not databases or not stored_rows_judged():
        return []  # before `migrate`: a data migration may be what moves them
    found = []
    for definition in registry.all_definitions():
        try:
            if definition.model._meta.db_table not in connection.introspection.table_names():
                continue
            stranded = (
                definition.model.objects.exclude(state__in=definition.states)
                .exclude(state__in=list(definition.moves))
                .values_list("state", flat=True)
                .distinct()
            )
            for state in sorted(stranded):
                count = definition.model.objects.filter(state=state).count()
                found.append(
                    _error(
                        definition,
                        f"state {state!r}",
                        f"{count} instance(s) wait in a state the declaration does not have",
                        id="workflows.E034",
                        hint=f"Declare moves = {{{state!r}: <a state>}} and run "
                        f"manage.py move_instances {definition.name}.",
                    )
                )
        except DatabaseError:
            continue
    return found
