"""Decision-layer use cases: author, review, publish, retire and roll back rule sets; decide
(evaluate and record); backtest a version against past decisions; record overrides.

One module per family: `lifecycle`, `deciding`, `backtest`, `overrides`.
"""

from decisions.services._permissions import (
    AUTHOR_PERMISSION,
    BACKTEST_PERMISSION,
    PUBLISH_PERMISSION,
    SUBMIT_PERMISSION,
)
from decisions.services.backtest import (
    BACKTEST_SAMPLES,
    DEFAULT_BACKTEST_SIZE,
    outcome_label,
    run_backtest,
)
from decisions.services.deciding import (
    decide,
    evaluate_ruleset,
    evaluate_version,
    reevaluate_record,
)
from decisions.services.lifecycle import (
    CONFIG_KIND,
    create_draft,
    create_ruleset,
    publish_version,
    retire_ruleset,
    return_to_draft,
    rollback_ruleset,
    save_draft_table,
    submit_for_review,
    version_authors,
)
from decisions.services.overrides import record_override

__all__ = [
    "AUTHOR_PERMISSION",
    "BACKTEST_PERMISSION",
    "BACKTEST_SAMPLES",
    "CONFIG_KIND",
    "DEFAULT_BACKTEST_SIZE",
    "PUBLISH_PERMISSION",
    "SUBMIT_PERMISSION",
    "create_draft",
    "create_ruleset",
    "decide",
    "evaluate_ruleset",
    "evaluate_version",
    "outcome_label",
    "publish_version",
    "record_override",
    "reevaluate_record",
    "retire_ruleset",
    "return_to_draft",
    "rollback_ruleset",
    "run_backtest",
    "save_draft_table",
    "submit_for_review",
    "version_authors",
]
