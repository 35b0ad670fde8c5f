"""Per-process cache of each rule set's published version, exact because it follows a
generation row (`opscore.generations`).

A decision reads its rule set's published version; through the ORM that was two reads and
the version's whole decision model decoded, for every step a worker ran. Here each process
keeps the version it found per slug, tagged with `decisions_ruleset_generation`'s value,
which database triggers change on any write that could change the answer (a version
published, retired, rolled back, created or deleted; a rule set renamed), from services,
admin, bulk updates or raw SQL alike. Each lookup reads that one value first; if it moved,
the cache is dropped, so the first decision that starts after a publication commits uses it,
in every process, with no time to live to wait out. The decision model compiled for zen is
kept apart, by content digest (`decisions.evaluation`).

Unknown rule sets and rule sets without a published version are not cached: the error costs
the reads it always cost.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from decisions import selectors
from decisions.models import RuleSetVersion
from opscore.generations import read_generation

TABLE = "decisions_ruleset_generation"


@dataclass
class _Cache:
    generation: int
    versions: dict[str, RuleSetVersion] = field(default_factory=dict)


# Replaced whole (never emptied in place), so a thread holding the old one reads it safely.
_cache = _Cache(generation=-1)


def published_version(*, slug: str) -> RuleSetVersion:
    """The published version of rule set `slug`, its rule set loaded. Shared by the callers
    of this process: read it, never change it. Raises UnknownRuleSet, NoPublishedVersion."""
    global _cache
    generation = read_generation(table=TABLE)
    cache = _cache
    if generation != cache.generation:
        cache = _cache = _Cache(generation=generation)
    version = cache.versions.get(slug)
    if version is None:
        rule_set = selectors.ruleset_by_slug(slug=slug)
        version = selectors.published_version(rule_set=rule_set)
        version.rule_set = rule_set
        cache.versions[slug] = version
    return version
