"""Each concrete workflow's admin, registered as its package is imported."""

from processes.invoices import admin as invoice_admin  # noqa: F401
from processes.orders import admin as order_admin  # noqa: F401
from processes.refunds import admin as refund_admin  # noqa: F401
