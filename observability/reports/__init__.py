"""Reports as queries over the event log (and the records kept beside it).

Each report module registers itself; importing this package registers them all.
"""

from observability.reports import (  # noqa: F401  (imported to register)
    cycle_time,
    dead_letters,
    overrides,
    rejections,
    sla,
    throughput,
)
from observability.reports.registry import (
    Report,
    ReportTable,
    UnknownReport,
    all_reports,
    get_report,
    run_report,
)
from observability.reports.window import BadWindow, Window, make_window

__all__ = [
    "BadWindow",
    "Report",
    "ReportTable",
    "UnknownReport",
    "Window",
    "all_reports",
    "get_report",
    "make_window",
    "run_report",
]

# The patterns report lives beside the reports (observability/patterns.py) and registers too.
import observability.patterns  # noqa: F401
