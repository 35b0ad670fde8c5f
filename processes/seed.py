"""Every concrete workflow's reference data at once, for a database emptied or reset since
its migrations wrote it (a test database's flush, the demo)."""

from django.apps import apps as installed_apps
from django.apps.registry import Apps

from processes.invoices import seed as invoice_seed
from processes.orders import seed as order_seed
from processes.refunds import seed as refund_seed

WORKFLOW_SEEDS = (order_seed.seed, invoice_seed.seed, refund_seed.seed)


def seed_every_workflow(*, apps: Apps = installed_apps) -> None:
    """Create what is missing of every workflow's reference data; change nothing that exists."""
    for seed in WORKFLOW_SEEDS:
        seed(apps=apps)
