"""Percentiles of a sample, as PostgreSQL's percentile_cont computes them.

Why in Python: a cycle or step time is the gap between two events of one instance, found by
pairing rows as the log is streamed in order; SQLite has no percentile function, so the
database filters and orders the rows and the pairing and the percentile happen here. The
definition is percentile_cont's (linear interpolation between closest ranks), so a figure can
be checked against `percentile_cont(p) WITHIN GROUP (ORDER BY ...)` on PostgreSQL.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(ordered: Sequence[float], fraction: float) -> float | None:
    """The `fraction` (0..1) percentile of an ascending sequence; None when it is empty."""
    if not ordered:
        return None
    rank = fraction * (len(ordered) - 1)
    low = math.floor(rank)
    high = math.ceil(rank)
    if low == high:
        return float(ordered[low])
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary(values: list[float]) -> tuple[int, float | None, float | None, float | None]:
    """(count, p50, p90, p99) of `values`, rounded to the millisecond."""
    ordered = sorted(values)
    return (
        len(ordered),
        *(_rounded(percentile(ordered, fraction)) for fraction in (0.5, 0.9, 0.99)),
    )


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
