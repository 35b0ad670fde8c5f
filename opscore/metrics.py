"""Every opscore metric, defined once.

Counters and histograms are process-local; under gunicorn and django-q2 workers set
PROMETHEUS_MULTIPROC_DIR (an empty directory, shared by every process, wiped at deploy) and
prometheus_client writes them to memory-mapped files that the scrape sums. Gauges that need the
database are not here: `observability.metrics.collector.DatabaseCollector` reads them at
scrape time. Kept in the kernel so every layer can count its work without importing upwards.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
STEP_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 24 * 3600)

# --- ingest ---------------------------------------------------------------------------------
INGEST_REQUESTS = Counter(
    "opscore_ingest_requests_total", "Inbound requests (events API and webhooks).", ["channel"]
)
INGEST_ACCEPTED = Counter(
    "opscore_ingest_accepted_total", "Inbound events stored and routed.", ["channel"]
)
INGEST_REPLAYED = Counter(
    "opscore_ingest_replayed_total",
    "Inbound requests answered with the first response of their idempotency key.",
    ["channel"],
)
INGEST_REJECTED = Counter(
    "opscore_ingest_rejected_total",
    "Inbound requests refused, by problem code.",
    ["channel", "problem"],
)
INGEST_LATENCY = Histogram(
    "opscore_ingest_latency_seconds",
    "Time to answer an inbound request.",
    ["channel"],
    buckets=LATENCY_BUCKETS,
)

# --- engine ---------------------------------------------------------------------------------
TRANSITIONS = Counter(
    "opscore_workflow_transitions_total",
    "Committed workflow transitions.",
    ["workflow", "transition"],
)
STEP_QUEUE_SECONDS = Histogram(
    "opscore_step_scheduled_to_started_seconds",
    "From an execution's scheduling to the start of its attempt.",
    ["workflow", "step"],
    buckets=STEP_BUCKETS,
)
STEP_RUN_SECONDS = Histogram(
    "opscore_step_started_to_finished_seconds",
    "From the start of an attempt to its recorded outcome.",
    ["workflow", "step"],
    buckets=STEP_BUCKETS,
)
ATTEMPTS_PER_SUCCESS = Histogram(
    "opscore_step_attempts_per_success",
    "Attempts a successful execution took.",
    ["workflow", "step"],
    buckets=(1, 2, 3, 4, 5, 8, 13),
)
DEAD_LETTERS = Counter(
    "opscore_dead_letters_total", "Executions that went to the dead letter.", ["workflow", "step"]
)
LEASE_RECOVERIES = Counter(
    "opscore_lease_recoveries_total", "Executions requeued after their worker's lease expired."
)
TIMER_LAG = Histogram(
    "opscore_timer_lag_seconds",
    "How late a due timer fired.",
    buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600),
)

# --- humans ---------------------------------------------------------------------------------
ESCALATIONS = Counter(
    "opscore_review_escalations_total", "Review tasks escalated, by workflow.", ["workflow"]
)
SLA_BREACHES = Counter(
    "opscore_review_sla_breaches_total",
    "Review tasks whose deadline passed undecided (counted at their first escalation).",
    ["workflow"],
)
NOTIFICATION_FAILURES = Counter(
    "opscore_notification_failures_total", "Task notifications that failed to send.", ["kind"]
)

# --- audit ----------------------------------------------------------------------------------
EVENTS_APPENDED = Counter("opscore_audit_events_appended_total", "Events committed to the log.")
CHAIN_HEAD_WAIT = Histogram(
    "opscore_audit_chain_head_wait_seconds",
    "Time spent waiting for the chain-head lock at commit.",
    buckets=(0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
