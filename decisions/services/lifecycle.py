"""A rule set's lifecycle: author a draft, submit it for review, publish it (four-eyes), retire
or roll back; each step one recorded configuration change."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from audit.services import record_config_change
from decisions import selectors
from decisions.errors import LifecycleError
from decisions.models import RuleSet, RuleSetVersion, VersionStatus
from decisions.services._permissions import (
    AUTHOR_PERMISSION,
    PUBLISH_PERMISSION,
    SUBMIT_PERMISSION,
    require_any,
)
from decisions.services.backtest import DEFAULT_BACKTEST_SIZE, run_backtest
from decisions.tables import DecisionTable, check_table, content_digest, from_jdm, to_jdm
from opscore.actors import Actor


def _user(actor: Actor):
    return actor.user


def _tracked(version: RuleSetVersion, actor: Actor) -> RuleSetVersion:
    version._history_user = actor.user
    return version


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
    require_any(actor, AUTHOR_PERMISSION, doing="author rule set drafts")
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
    require_any(actor, AUTHOR_PERMISSION, doing="edit rule set drafts")
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
    require_any(actor, SUBMIT_PERMISSION, doing="submit rule set drafts for review")
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
    require_any(
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
