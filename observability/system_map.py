"""The system map: for each workflow, the five-line audit, generated from its definition and
the configuration in the database, with every "a person without an SLA and escalation" and
every "nobody" flagged.

The five lines:
  trigger  - what starts or moves it: event-type bindings, schedules, manual start in admin
  decide   - what decides and who: rule sets (machine steps), people's queues (human steps)
  execute  - what changes the world: connectors and their endpoints, with retry budgets
  record   - where the record is: the instance table and the hash-chained log
  watch    - how you would know it is failing: the alert rules that cover each part

Coverage, as the map counts it (an alert rule covers only when enabled):
  machine step    a dead_letters or stuck_instances rule scoped to its workflow or to all
  wait step       a stuck_instances rule scoped to its workflow or to all
  human step      an sla_breach_rate rule for its queue or for all queues (and its workflow
                  or all), plus an escalation policy for the step
  binding         a rejection_spike rule for all integrations or one that may send its type,
                  and an event type with a non-empty schema
  the platform    cluster_silent (workers run the machine steps), sweeper_stale (timers and
                  escalations), audit_verify_failed (the record itself)
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django.db.models import Count, Q

from approvals.models import EscalationPolicy
from decisions.models import RuleSet, VersionStatus
from integrations.models import ApiKey, Schedule, TriggerBinding, WebhookSource
from observability.models import AlertKind, AlertRule, CheckName, CheckRun
from workflows import registry
from workflows.declaration import HumanStep, MachineStep, WaitStep, WorkflowDefinition

LINES = ("trigger", "decide", "execute", "record", "watch")
LINE_TITLES = {
    "trigger": "What triggers it",
    "decide": "What decides, and who",
    "execute": "What executes",
    "record": "Where the record is",
    "watch": "How you would know it is failing",
}


@dataclass(frozen=True)
class Item:
    """One answer on a line; `flag` says why the answer is "nobody" or an unbounded person."""

    subject: str
    answer: str
    flag: str = ""


@dataclass
class WorkflowMap:
    workflow: str
    description: str
    lines: dict[str, list[Item]] = field(default_factory=lambda: {line: [] for line in LINES})

    @property
    def flags(self) -> list[tuple[str, Item]]:
        return [(line, item) for line in LINES for item in self.lines[line] if item.flag]

    def as_dict(self) -> dict[str, Any]:
        return {
            "workflow": self.workflow,
            "description": self.description,
            "lines": {line: [asdict(item) for item in items] for line, items in self.lines.items()},
            "flagged": len(self.flags),
        }


@dataclass(frozen=True)
class _Config:
    """The configuration the map reads, loaded once for every workflow (a fixed number of
    queries, whatever the number of workflows)."""

    rules: list[AlertRule]
    bindings: list[TriggerBinding]
    schedules: list[Schedule]
    policies: dict[tuple[str, str], EscalationPolicy]
    published: set[str]
    known_rule_sets: set[str]
    senders: dict[str, set[str]]  # event type ("*" for all) -> integration names
    queue_members: dict[str, int]
    manual_starters: list[str]
    last_verify: CheckRun | None


def _load_config() -> _Config:
    rules = list(AlertRule.objects.select_related("queue").filter(enabled=True))
    bindings = list(
        TriggerBinding.objects.select_related("event_type").filter(
            is_active=True, event_type__is_active=True
        )
    )
    schedules = list(
        Schedule.objects.select_related("event_type").filter(is_active=True).order_by("name")
    )
    policies = {
        (policy.workflow, policy.step): policy
        for policy in EscalationPolicy.objects.select_related("escalate_to")
    }
    rule_sets = RuleSet.objects.annotate(
        live=Count("versions", filter=Q(versions__status=VersionStatus.PUBLISHED))
    ).values_list("slug", "live")
    senders: dict[str, set[str]] = {}
    for name, types in ApiKey.objects.filter(
        revoked_at__isnull=True, integration__is_active=True
    ).values_list("integration__name", "event_types"):
        for event_type in types or []:
            senders.setdefault(event_type, set()).add(name)
    for source in WebhookSource.objects.filter(is_active=True).select_related("integration"):
        name = source.integration.name if source.integration_id else f"webhook:{source.name}"
        for event_type in source.event_types or []:
            senders.setdefault(event_type, set()).add(name)
    queue_members = dict(
        Group.objects.annotate(members=Count("user")).values_list("name", "members")
    )
    starters = Permission.objects.filter(
        content_type__app_label="integrations", codename="start_workflow_manually"
    )
    manual_starters = sorted(
        Group.objects.filter(permissions__in=starters).values_list("name", flat=True)
    )
    last_verify = CheckRun.objects.filter(name=CheckName.VERIFY_AUDIT).first()
    return _Config(
        rules=rules,
        bindings=bindings,
        schedules=schedules,
        policies=policies,
        published={slug for slug, live in rule_sets if live},
        known_rule_sets={slug for slug, _ in rule_sets},
        senders=senders,
        queue_members=queue_members,
        manual_starters=manual_starters,
        last_verify=last_verify,
    )


def _rules(config: _Config, kinds: set[str], *, workflow: str, queue: str | None = None):
    found = []
    for rule in config.rules:
        if rule.kind not in kinds or rule.workflow not in ("", workflow):
            continue
        if queue is not None and rule.queue_id is not None and rule.queue.name != queue:
            continue
        found.append(rule)
    return found


def _names(rules: list[AlertRule]) -> str:
    return ", ".join(f"{rule.name} ({rule.kind})" for rule in rules)


def _duration(value: timedelta) -> str:
    minutes = int(value.total_seconds() // 60)
    if minutes % 60 == 0:
        return f"{minutes // 60} h"
    return f"{minutes} min"


def _trigger_line(definition: WorkflowDefinition, config: _Config) -> list[Item]:
    items: list[Item] = []
    for binding in config.bindings:
        if binding.workflow != definition.name:
            continue
        event_type = binding.event_type
        what = "starts" if binding.action == "start" else f"signals {binding.transition}"
        senders = sorted(
            config.senders.get(event_type.name, set()) | config.senders.get("*", set())
        )
        answer = f"{what}; sent by {', '.join(senders) or 'no integration yet'}"
        flag = (
            "" if event_type.schema else "nobody checks its payload: the event type has no schema"
        )
        items.append(Item(subject=f"binding {event_type.name}", answer=answer, flag=flag))
    bound_types = {b.event_type_id: b for b in config.bindings if b.workflow == definition.name}
    for schedule in config.schedules:
        if schedule.event_type_id in bound_types:
            items.append(
                Item(
                    subject=f"schedule {schedule.name}",
                    answer=f"cron {schedule.cron!r} emits {schedule.event_type.name}",
                )
            )
    items.append(
        Item(
            subject="manual start",
            answer="in admin by superusers"
            + (
                f" and groups {', '.join(config.manual_starters)}" if config.manual_starters else ""
            ),
        )
    )
    return items


def _decide_line(definition: WorkflowDefinition, config: _Config) -> list[Item]:
    items: list[Item] = []
    for step in definition.steps:
        if isinstance(step, MachineStep):
            for slug in step.rule_sets:
                if slug not in config.known_rule_sets:
                    answer, flag = f"rule set {slug}", "nobody: the rule set does not exist"
                elif slug not in config.published:
                    answer = f"rule set {slug}"
                    flag = "nobody: no published version (the step dead-letters)"
                else:
                    answer, flag = f"rule set {slug} (published version)", ""
                items.append(Item(subject=step.name, answer=answer, flag=flag))
        elif isinstance(step, HumanStep):
            policy = config.policies.get((definition.name, step.name))
            members = config.queue_members.get(step.queue, 0)
            who = f"a person in queue {step.queue} ({members} member{'s' if members != 1 else ''})"
            if policy is None:
                items.append(
                    Item(
                        subject=step.name,
                        answer=f"{who}, SLA {_duration(step.sla)} (definition default)",
                        flag="a person without escalation: no escalation policy for the step",
                    )
                )
                continue
            levels = [policy.escalate_to.name] + [
                str(level.get("escalate_to")) for level in policy.further_levels or []
            ]
            answer = f"{who}, SLA {_duration(policy.sla)}, escalates to {' then '.join(levels)}"
            if policy.business_hours:
                answer += " (business hours)"
            flag = "" if members else "nobody: the queue has no members"
            items.append(Item(subject=step.name, answer=answer, flag=flag))
    if not items:
        items.append(Item(subject="-", answer="no rule set or person: the steps decide in code"))
    return items


def _execute_line(definition: WorkflowDefinition) -> list[Item]:
    items: list[Item] = []
    for step in definition.steps:
        if isinstance(step, MachineStep):
            executor = f"{step.executor.__module__}.{step.executor.__qualname__}"
            targets = [
                f"{connector} {getattr(settings, setting, '?')} ({setting})"
                for connector, setting in step.connectors
            ]
            answer = f"{executor} on a django-q2 worker, up to {step.max_attempts} attempts"
            if targets:
                answer += "; calls " + ", ".join(targets) + " with Idempotency-Key"
            items.append(Item(subject=step.name, answer=answer))
        elif isinstance(step, WaitStep):
            items.append(
                Item(
                    subject=step.name,
                    answer=f"waits for {step.signal_transition}; a timer fires {step.on_timeout} "
                    f"after {_duration(step.timeout())}",
                )
            )
    return items


def _record_line(definition: WorkflowDefinition, config: _Config) -> list[Item]:
    table = definition.model._meta.db_table
    verify = config.last_verify
    if verify is None:
        checked, flag = "never verified", ""
    else:
        result = "ok" if verify.ok else "FAILED"
        checked = f"last verify_audit {result} at {verify.finished_at:%Y-%m-%d %H:%M}"
        flag = "" if verify.ok else "the last verify_audit failed"
    return [
        Item(
            subject="log",
            answer=f"audit_event (append-only, hash-chained), projection {table}; {checked}",
            flag=flag,
        )
    ]


def _watch_line(definition: WorkflowDefinition, config: _Config) -> list[Item]:
    items: list[Item] = []
    name = definition.name
    for step in definition.steps:
        if isinstance(step, MachineStep):
            rules = _rules(
                config, {AlertKind.DEAD_LETTERS, AlertKind.STUCK_INSTANCES}, workflow=name
            )
        elif isinstance(step, WaitStep):
            rules = _rules(config, {AlertKind.STUCK_INSTANCES}, workflow=name)
        else:
            rules = _rules(config, {AlertKind.SLA_BREACH_RATE}, workflow=name, queue=step.queue)
        flag = "" if rules else f"nobody: no enabled alert rule covers this {step.kind} step"
        items.append(Item(subject=step.name, answer=_names(rules) or "nobody", flag=flag))
    for binding in config.bindings:
        if binding.workflow != name:
            continue
        type_name = binding.event_type.name
        senders = config.senders.get(type_name, set()) | config.senders.get("*", set())
        rules = [
            rule
            for rule in config.rules
            if rule.kind == AlertKind.REJECTION_SPIKE
            and (rule.integration == "" or rule.integration in senders)
        ]
        flag = "" if rules else "nobody: no rejection rule covers who sends it"
        items.append(
            Item(subject=f"binding {type_name}", answer=_names(rules) or "nobody", flag=flag)
        )
    platform = [
        (
            AlertKind.CLUSTER_SILENT,
            "workers",
            any(isinstance(s, MachineStep) for s in definition.steps),
        ),
        (
            AlertKind.SWEEPER_STALE,
            "sweeper",
            any(isinstance(s, WaitStep | HumanStep) for s in definition.steps),
        ),
        (AlertKind.AUDIT_VERIFY_FAILED, "log", True),
    ]
    for kind, subject, needed in platform:
        if not needed:
            continue
        rules = [rule for rule in config.rules if rule.kind == kind]
        flag = "" if rules else f"nobody: no enabled {kind} rule"
        items.append(Item(subject=subject, answer=_names(rules) or "nobody", flag=flag))
    return items


def system_map(*, workflow: str | None = None) -> list[WorkflowMap]:
    """The map of every registered workflow, or of one (`UnknownWorkflow` if not registered)."""
    definitions = [registry.get(workflow)] if workflow else registry.all_definitions()
    config = _load_config()
    maps = []
    for definition in definitions:
        mapped = WorkflowMap(workflow=definition.name, description=definition.description)
        mapped.lines["trigger"] = _trigger_line(definition, config)
        mapped.lines["decide"] = _decide_line(definition, config)
        mapped.lines["execute"] = _execute_line(definition)
        mapped.lines["record"] = _record_line(definition, config)
        mapped.lines["watch"] = _watch_line(definition, config)
        maps.append(mapped)
    return maps


def render_text(maps: list[WorkflowMap]) -> str:
    out: list[str] = []
    for mapped in maps:
        out.append(f"{mapped.workflow}: {mapped.description}")
        for line in LINES:
            out.append(f"  {LINE_TITLES[line]}")
            for item in mapped.lines[line]:
                mark = "  !! " if item.flag else "     "
                out.append(f"{mark}{item.subject}: {item.answer}")
                if item.flag:
                    out.append(f"        FLAG: {item.flag}")
        out.append(f"  {len(mapped.flags)} flagged")
        out.append("")
    return "\n".join(out)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(maps: list[WorkflowMap]) -> str:
    from workflows.diagram import mermaid_state_diagram

    out = ["# System map", ""]
    for mapped in maps:
        out += [f"## {mapped.workflow}", "", mapped.description, ""]
        out += ["| line | part | answer | flag |", "|---|---|---|---|"]
        for line in LINES:
            for item in mapped.lines[line]:
                flag = f"**{_cell(item.flag)}**" if item.flag else ""
                subject, answer = _cell(item.subject), _cell(item.answer)
                out.append(f"| {LINE_TITLES[line]} | {subject} | {answer} | {flag} |")
        out += ["", f"{len(mapped.flags)} flagged.", ""]
        out += [
            "```mermaid",
            mermaid_state_diagram(registry.get(mapped.workflow)).rstrip(),
            "```",
            "",
        ]
    return "\n".join(out)


def render_json(maps: list[WorkflowMap]) -> str:
    return json.dumps([mapped.as_dict() for mapped in maps], indent=2)
