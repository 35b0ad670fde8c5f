"""The trigger layer's use cases: the one way in (`ingest_event`) and what feeds it.

API calls, signed webhooks, schedule ticks, the admin's manual start and re-delivery all end in
`ingest_event`: validate, dedupe, store and route in one transaction with the engine call, or
refuse with a problem and record the refusal after that transaction rolled back. One module per
family: `ingestion`, `batch`, `rejections`, `webhooks`, `api_keys`, `manual`, `schedules`.
"""

from integrations.services._inbound_request import BODY_EXCERPT_BYTES, IDEMPOTENCY_KEY_MAX
from integrations.services.api_keys import (
    api_key_fields,
    create_api_key,
    ensure_integration,
    rename_api_key,
    revoke_api_key,
    rotate_api_key,
)
from integrations.services.batch import BatchResult, ingest_batch
from integrations.services.ingestion import (
    ENVELOPE_SCHEMA,
    MANUAL_START_PERMISSION,
    REDELIVER_PERMISSION,
    SEND_EVENT_PERMISSION,
    Caller,
    IngestResult,
    SchemaError,
    check_schema,
    ingest_event,
)
from integrations.services.manual import redeliver_inbound_event, start_manually
from integrations.services.rejections import PURGE_BATCH, purge_rejections, record_rejection
from integrations.services.schedules import (
    FIRE_SCHEDULE_JOB,
    delete_schedule,
    fire_schedule,
    schedule_fields,
    sync_schedule,
    validate_cron,
)
from integrations.services.webhooks import add_webhook_secret, ingest_webhook, new_webhook_secret

__all__ = [
    "BODY_EXCERPT_BYTES",
    "ENVELOPE_SCHEMA",
    "FIRE_SCHEDULE_JOB",
    "IDEMPOTENCY_KEY_MAX",
    "MANUAL_START_PERMISSION",
    "PURGE_BATCH",
    "REDELIVER_PERMISSION",
    "SEND_EVENT_PERMISSION",
    "BatchResult",
    "Caller",
    "IngestResult",
    "SchemaError",
    "add_webhook_secret",
    "api_key_fields",
    "check_schema",
    "create_api_key",
    "delete_schedule",
    "ensure_integration",
    "fire_schedule",
    "ingest_batch",
    "ingest_event",
    "ingest_webhook",
    "new_webhook_secret",
    "purge_rejections",
    "record_rejection",
    "redeliver_inbound_event",
    "rename_api_key",
    "revoke_api_key",
    "rotate_api_key",
    "schedule_fields",
    "start_manually",
    "sync_schedule",
    "validate_cron",
]
