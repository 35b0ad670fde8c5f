"""Decision-layer use cases: author, review, publish, retire and roll back rule sets; decide
(evaluate and record); backtest a version against past decisions; record overrides."""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import datetime
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, transaction
from django.db.models import Max, Model
from django.utils import timezone

from audit.services import record_config_change
from decisions import selectors
from decisions.errors import DecisionError, LifecycleError
from decisions.evaluation import Evaluation, evaluate_model
from decisions.models import (
    Backtest,
    DecisionRecord,
    Override,
    RuleSet,
    RuleSetVersion,
    VersionStatus,
)
from decisions.reference import REFERENCE_RULE_SETS
from decisions.tables import DecisionTable, check_table, content_digest, from_jdm, to_jdm
from opscore.actors import Actor
from opscore.scrubbing import recordable

PUBLISH_PERMISSION = "decisions.publish_ruleset"
AUTHOR_PERMISSION = "decisions.author_ruleset"
SUBMIT_PERMISSION = "decisions.submit_ruleset"
BACKTEST_PERMISSION = "decisions.backtest_ruleset"
DEFAULT_BACKTEST_SIZE = 1000
BACKTEST_SAMPLES = 20


def _user(actor: Actor):
    return actor.user


def _require_any(actor: Actor, *permissions: str, doing: str) -> None:
    """People need one of the permissions; the system (seeding, commands run as no one) does not.
    Checked here, not only in admin, so every edge that calls the service is held to it."""
    if actor.user is not None and not any(actor.user.has_perm(p) for p in permissions):
        raise LifecycleError(f"{actor.ref} lacks the permission to {doing}")


def _tracked(version: RuleSetVersion, actor: Actor) -> RuleSetVersion:
    version._history_user = actor.user
    return version


# --- the record of configuration changes ---------------------------------------------------
# Every lifecycle step is one `config.ruleset.<action>` event in its own transaction. `channel`
# says where the person acted (admin, api, command); seeding and tests call as the system.

CONFIG_KIND = "ruleset"


def _version_fields(version: RuleSetVersion) -> dict[str, Any]:
    return {
        "version": version.number,
        "status": version.status,
        "note": version.note,
        "content_digest": version.content_digest,
        "rules": len(from_jdm(version.content).rows),
    }


def _record(
    *,
    actor: Actor,
    channel: str,
    action: str,
    target: RuleSet | RuleSetVersion,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    label = (
        f"{target.rule_set.slug} v{target.number}"
        if isinstance(target, RuleSetVersion)
        else target.slug
    )
    record_config_change(
        actor=actor,
        channel=channel,
        kind=CONFIG_KIND,
        action=action,
        target=target,
        label=label,
        before=before,
        after=after,
    )


# --- authoring ---------------------------------------------------------------------------


def create_ruleset(
    *, slug: str, name: str, description: str = "", actor: Actor, channel: str = "system"
) -> RuleSet:
    """A new rule set with an empty draft version 1 to fill in; one `created` event."""
    with transaction.atomic():
        rule_set = RuleSet(slug=slug, name=name, description=description)
        rule_set._history_user = actor.user
        rule_set.save()
        content = to_jdm(DecisionTable())
        _tracked(
            RuleSetVersion(
                rule_set=rule_set,
                number=1,
                content=content,
                content_digest=content_digest(content),
                created_by=_user(actor),
            ),
            actor,
        ).save()
        _record(
            actor=actor,
            channel=channel,
            action="created",
            target=rule_set,
            before=None,
            after={"slug": slug, "name": name, "description": description, "draft": 1},
        )
    return rule_set


def create_draft(
    *, rule_set: RuleSet, actor: Actor, note: str = "", channel: str = "system"
) -> RuleSetVersion:
    """A new draft starting from the published version's table (or an empty one); a person
    needs `decisions.author_ruleset`."""
    _require_any(actor, AUTHOR_PERMISSION, doing="author rule set drafts")
    with transaction.atomic():
        RuleSet.objects.select_for_update().get(pk=rule_set.pk)
        published = rule_set.versions.filter(status=VersionStatus.PUBLISHED).first()
        content = published.content if published else to_jdm(DecisionTable())
        number = (rule_set.versions.aggregate(n=Max("number"))["n"] or 0) + 1
        version = _tracked(
            RuleSetVersion(
                rule_set=rule_set,
                number=number,
                content=content,
                content_digest=content_digest(content),
                note=note,
                created_by=_user(actor),
            ),
            actor,
        )
        version.save()
        _record(
            actor=actor,
            channel=channel,
            action="draft_created",
            target=version,
            before=None,
            after={
                **_version_fields(version),
                "from_version": published.number if published else None,
            },
        )
    return version


def save_draft_table(
    *,
    version: RuleSetVersion,
    table: DecisionTable,
    actor: Actor,
    note: str | None = None,
    channel: str = "system",
) -> RuleSetVersion:
    """Replace a draft's table; refuses (MalformedRuleSet) anything zen would not compile, and
    a person without `decisions.author_ruleset` (LifecycleError)."""
    _require_any(actor, AUTHOR_PERMISSION, doing="edit rule set drafts")
    check_table(table)
    with transaction.atomic():
        locked = RuleSetVersion.objects.select_for_update().get(pk=version.pk)
        if locked.status != VersionStatus.DRAFT:
            raise LifecycleError(f"{locked} is not a draft: only drafts can be edited")
        before = _version_fields(locked)
        locked.content = to_jdm(table)
        locked.content_digest = content_digest(locked.content)
        if note is not None:
            locked.note = note
        _tracked(locked, actor).save()
        after = _version_fields(locked)
        if after != before:
            _record(
                actor=actor,
                channel=channel,
                action="draft_edited",
                target=locked,
                before=before,
                after=after,
            )
    return locked


def submit_for_review(
    *,
    version: RuleSetVersion,
    actor: Actor,
    backtest_size: int = DEFAULT_BACKTEST_SIZE,
    channel: str = "system",
) -> RuleSetVersion:
    """Freeze a draft for review and store its backtest against recent decisions; a person
    needs `decisions.submit_ruleset`."""
    _require_any(actor, SUBMIT_PERMISSION, doing="submit rule set drafts for review")
    with transaction.atomic():
        locked = RuleSetVersion.objects.select_for_update().get(pk=version.pk)
        if locked.status != VersionStatus.DRAFT:
            raise LifecycleError(f"{locked} is not a draft")
        check_table(from_jdm(locked.content))
        before = _version_fields(locked)
        locked.status = VersionStatus.IN_REVIEW
        locked.submitted_by = _user(actor)
        locked.submitted_at = timezone.now()
        _tracked(locked, actor).save()
        backtest = run_backtest(version=locked, actor=actor, last=backtest_size)
        _record(
            actor=actor,
            channel=channel,
            action="submitted",
            target=locked,
            before=before,
            after={**_version_fields(locked), "backtest_changed": backtest.changed},
        )
    return locked


def return_to_draft(
    *, version: RuleSetVersion, actor: Actor, channel: str = "system"
) -> RuleSetVersion:
    """A reviewer (a publisher) or an author sends a version back for changes."""
    _require_any(
        actor, AUTHOR_PERMISSION, PUBLISH_PERMISSION, doing="send rule set versions back to draft"
    )
    with transaction.atomic():
        locked = RuleSetVersion.objects.select_for_update().get(pk=version.pk)
        if locked.status != VersionStatus.IN_REVIEW:
            raise LifecycleError(f"{locked} is not in review")
        before = _version_fields(locked)
        locked.status = VersionStatus.DRAFT
        _tracked(locked, actor).save()
        _record(
            actor=actor,
            channel=channel,
            action="returned_to_draft",
            target=locked,
            before=before,
            after=_version_fields(locked),
        )
    return locked


# --- publishing --------------------------------------------------------------------------


def _require_publisher(actor: Actor) -> None:
    if actor.user is None or not actor.user.has_perm(PUBLISH_PERMISSION):
        raise LifecycleError(f"{actor.ref} lacks the permission to publish rule sets")


def version_authors(*, version: RuleSetVersion) -> set[int]:
    """Everyone who created, changed the table of, or submitted the version: none of them
    may publish it. A reviewer who only sent it back to draft is not an author."""
    authors = {pk for pk in (version.created_by_id, version.submitted_by_id) if pk}
    previous_digest = None
    for user_id, digest in version.history.order_by("history_date", "history_id").values_list(
        "history_user_id", "content_digest"
    ):
        if digest != previous_digest and user_id is not None:
            authors.add(user_id)
        previous_digest = digest
    return authors


def publish_version(
    *, version: RuleSetVersion, actor: Actor, channel: str = "system"
) -> RuleSetVersion:
    """Publish a reviewed version, retiring the one it replaces, in one transaction.

    Four-eyes: the publisher holds `decisions.publish_ruleset` and neither wrote nor
    submitted the version. The database keeps at most one published version per rule set.
    """
    _require_publisher(actor)
    now = timezone.now()
    with transaction.atomic():
        RuleSet.objects.select_for_update().get(pk=version.rule_set_id)
        locked = RuleSetVersion.objects.select_for_update().get(pk=version.pk)
        if locked.status != VersionStatus.IN_REVIEW:
            raise LifecycleError(f"{locked} is not in review: submit it before publishing")
        if actor.user.pk in version_authors(version=locked):
            raise LifecycleError(
                f"{actor.ref} wrote or submitted {locked} and cannot also publish it "
                "(four-eyes rule)"
            )
        before = {**_version_fields(locked), "published_version": None}
        replaced = _retire_published(rule_set_id=locked.rule_set_id, actor=actor, now=now)
        before["published_version"] = replaced.number if replaced else None
        locked.status = VersionStatus.PUBLISHED
        locked.published_by = actor.user
        locked.published_at = now
        locked.retired_at = None
        _tracked(locked, actor).save()
        _record(
            actor=actor,
            channel=channel,
            action="published",
            target=locked,
            before=before,
            after={**_version_fields(locked), "published_version": locked.number},
        )
    return locked


def _retire_published(*, rule_set_id: int, actor: Actor, now: datetime) -> RuleSetVersion | None:
    current = (
        RuleSetVersion.objects.select_for_update()
        .filter(rule_set_id=rule_set_id, status=VersionStatus.PUBLISHED)
        .first()
    )
    if current is not None:
        current.status = VersionStatus.RETIRED
        current.retired_at = now
        _tracked(current, actor).save()
    return current


def retire_ruleset(*, rule_set: RuleSet, actor: Actor, channel: str = "system") -> RuleSetVersion:
    """Retire the published version: decision steps on this rule set fail until one is
    published or rolled back to."""
    _require_publisher(actor)
    with transaction.atomic():
        RuleSet.objects.select_for_update().get(pk=rule_set.pk)
        retired = _retire_published(rule_set_id=rule_set.pk, actor=actor, now=timezone.now())
        if retired is None:
            raise LifecycleError(f"{rule_set} has no published version to retire")
        _record(
            actor=actor,
            channel=channel,
            action="retired",
            target=rule_set,
            before={"published_version": retired.number},
            after={"published_version": None},
        )
    return retired


def rollback_ruleset(*, rule_set: RuleSet, actor: Actor, channel: str = "system") -> RuleSetVersion:
    """Put the previously published version back in place of the current one.

    It was reviewed when first published, so a roll back needs the permission but no new
    second person: it is the emergency exit.
    """
    _require_publisher(actor)
    now = timezone.now()
    with transaction.atomic():
        RuleSet.objects.select_for_update().get(pk=rule_set.pk)
        previous = selectors.previous_published_version(rule_set=rule_set)
        if previous is None:
            raise LifecycleError(f"{rule_set} has no earlier published version to roll back to")
        replaced = _retire_published(rule_set_id=rule_set.pk, actor=actor, now=now)
        previous.status = VersionStatus.PUBLISHED
        previous.published_at = now
        previous.published_by = actor.user
        previous.retired_at = None
        _tracked(previous, actor).save()
        _record(
            actor=actor,
            channel=channel,
            action="rolled_back",
            target=rule_set,
            before={"published_version": replaced.number if replaced else None},
            after={"published_version": previous.number},
        )
    return previous


# --- deciding ----------------------------------------------------------------------------


def evaluate_version(*, version: RuleSetVersion, inputs: dict[str, Any]) -> Evaluation:
    """Evaluate without recording anything (dry runs, backtests, re-evaluation)."""
    return evaluate_model(content=version.content, digest=version.content_digest, inputs=inputs)


def reevaluate_record(*, record: DecisionRecord) -> Evaluation:
    """Evaluate a recorded decision's inputs again with the version it was made with."""
    return evaluate_version(version=record.version, inputs=record.inputs)


def evaluate_ruleset(*, slug: str, inputs: dict[str, Any]) -> tuple[RuleSetVersion, Evaluation]:
    """Dry run against the published version: nothing is recorded."""
    version = selectors.published_version(rule_set=selectors.ruleset_by_slug(slug=slug))
    return version, evaluate_version(version=version, inputs=inputs)


def decide(
    *,
    rule_set: str,
    inputs: dict[str, Any],
    instance: Model | None = None,
    step: str = "",
    idempotency_key: str = "",
) -> DecisionRecord:
    """Evaluate the published version and record the decision.

    With an idempotency key, a repeat (a retried step) returns the first record unchanged,
    even if another version was published in between: one step, one answer. Errors are
    DecisionError kinds (all permanent); nothing is recorded for them.
    """
    if idempotency_key:
        existing = DecisionRecord.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            return existing
    version, evaluation = evaluate_ruleset(slug=rule_set, inputs=inputs)
    record = DecisionRecord(
        rule_set_id=version.rule_set_id,
        version=version,
        inputs=inputs,
        outputs=evaluation.outputs,
        matched_rules=evaluation.matched_rules,
        primary_rule_id=evaluation.matched_rules[0]["id"] if evaluation.matched_rules else "",
        duration_us=evaluation.duration_us,
        instance_type=ContentType.objects.get_for_model(instance) if instance else None,
        instance_id=instance.pk if instance else None,
        step=step,
        idempotency_key=idempotency_key,
    )
    try:
        with transaction.atomic():
            record.save()
    except IntegrityError:
        # A concurrent run of the same step recorded first; its answer stands.
        return DecisionRecord.objects.get(idempotency_key=idempotency_key)
    return record


# --- backtesting -------------------------------------------------------------------------


def outcome_label(outputs: Any) -> str:
    if isinstance(outputs, dict) and len(outputs) == 1:
        value = next(iter(outputs.values()))
        return value if isinstance(value, str) else json.dumps(value)
    return json.dumps(outputs, sort_keys=True)


def run_backtest(
    *,
    version: RuleSetVersion,
    actor: Actor,
    last: int | None = DEFAULT_BACKTEST_SIZE,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Backtest:
    """Replay past decisions' inputs through `version` and store what would change.

    Uses the last `last` decisions of the rule set, or those made in [since, until). A person
    needs `decisions.backtest_ruleset` (or to be submitting, which runs one).
    """
    _require_any(actor, BACKTEST_PERMISSION, SUBMIT_PERMISSION, doing="run backtests")
    started = time.perf_counter()
    records = DecisionRecord.objects.filter(rule_set_id=version.rule_set_id)
    if since is not None or until is not None:
        if since is not None:
            records = records.filter(created_at__gte=since)
        if until is not None:
            records = records.filter(created_at__lt=until)
        window = f"decisions from {since or 'the start'} to {until or 'now'}"
    else:
        window = f"last {last} decisions"
    records = records.order_by("-created_at", "-id")
    if since is None and until is None and last is not None:
        records = records[:last]
    rows = records.values_list("pk", "inputs", "outputs", "instance_type_id", "instance_id", "step")
    transitions: Counter[tuple[str, str]] = Counter()
    samples: list[dict[str, Any]] = []
    error_samples: list[dict[str, Any]] = []
    evaluated = errors = 0
    content, digest = version.content, version.content_digest
    for pk, inputs, old_outputs, type_id, instance_id, step in rows.iterator(chunk_size=2000):
        evaluated += 1
        try:
            new_outputs = evaluate_model(content=content, digest=digest, inputs=inputs).outputs
        except DecisionError as error:
            errors += 1
            if len(error_samples) < BACKTEST_SAMPLES:
                error_samples.append({"decision": pk, "error": str(error)})
            continue
        if json.dumps(new_outputs, sort_keys=True) == json.dumps(old_outputs, sort_keys=True):
            continue
        old_label, new_label = outcome_label(old_outputs), outcome_label(new_outputs)
        transitions[(old_label, new_label)] += 1
        if len(samples) < BACKTEST_SAMPLES:
            samples.append(
                {
                    "decision": pk,
                    "instance_type": type_id,
                    "instance_id": instance_id,
                    "step": step,
                    "from": old_label,
                    "to": new_label,
                }
            )
    return Backtest.objects.create(
        version=version,
        window=window,
        decisions_evaluated=evaluated,
        changed=sum(transitions.values()),
        errors=errors,
        breakdown=[
            {"from": old, "to": new, "count": count}
            for (old, new), count in transitions.most_common()
        ],
        samples=samples,
        error_samples=error_samples,
        duration_ms=int((time.perf_counter() - started) * 1000),
        created_by=actor.user,
    )


# --- overrides ---------------------------------------------------------------------------


def record_override(
    *, instance: Model, rule_set: str, chosen: dict[str, Any], reason: str, actor: Actor
) -> Override:
    """Record that a person decided `chosen` where the instance's latest decision of
    `rule_set` recommended otherwise; counted against the row that matched.

    Idempotent: the same choice against the same decision (a retried step) is recorded once.
    """
    if not reason.strip():
        raise DecisionError("a reason is required to record an override")
    decision = selectors.latest_decision_for(instance=instance, rule_set=rule_set)
    if decision is None:
        raise DecisionError(f"{instance} has no {rule_set!r} decision to override")
    recommended = decision.outputs
    if isinstance(recommended, dict) and all(
        recommended.get(key) == value for key, value in chosen.items()
    ):
        raise DecisionError(f"{chosen} is what {rule_set!r} recommended: not an override")
    existing = next((o for o in decision.overrides.all() if o.chosen == chosen), None)
    if existing is not None:
        return existing
    return Override.objects.create(
        decision=decision,
        rule_set_id=decision.rule_set_id,
        version_id=decision.version_id,
        rule_id=decision.primary_rule_id,
        recommended=recommended,
        chosen=chosen,
        reason=recordable(reason),
        actor_ref=str(actor),
        user=actor.user,
    )


# --- seeding -----------------------------------------------------------------------------


def seed_reference_rulesets() -> int:
    """Create the reference rule sets, each with a published version 1, if missing.

    Idempotent; never touches a rule set that exists (people may have changed it since).
    Returns how many were created.
    """
    created = 0
    with transaction.atomic():
        for slug, name, description, table in REFERENCE_RULE_SETS:
            if RuleSet.objects.filter(slug=slug).exists():
                continue
            check_table(table)
            rule_set = RuleSet.objects.create(slug=slug, name=name, description=description)
            content = to_jdm(table)
            now = timezone.now()
            RuleSetVersion.objects.create(
                rule_set=rule_set,
                number=1,
                status=VersionStatus.PUBLISHED,
                content=content,
                content_digest=content_digest(content),
                note="Seeded: the reference workflow's original thresholds.",
                submitted_at=now,
                published_at=now,
            )
            created += 1
    return created
