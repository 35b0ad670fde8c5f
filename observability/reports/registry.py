"""Named reports, each a read of the log (or of records kept beside it) over a time window."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from observability.reports.window import Window


@dataclass(frozen=True)
class ReportTable:
    """What every report returns: a title, column names and rows of plain values."""

    title: str
    columns: Sequence[str]
    rows: list[tuple[Any, ...]]
    window: Window
    notes: Sequence[str] = field(default_factory=tuple)

    def as_dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


@dataclass(frozen=True)
class Report:
    name: str
    title: str
    description: str
    build: Callable[[Window], ReportTable]
    # The window used when the caller gives no --since.
    default_span: timedelta = timedelta(days=7)


class UnknownReport(LookupError):
    pass


_REPORTS: dict[str, Report] = {}


def register(
    *, name: str, title: str, description: str, default_span: timedelta = timedelta(days=7)
) -> Callable[[Callable[[Window], ReportTable]], Callable[[Window], ReportTable]]:
    def decorate(build: Callable[[Window], ReportTable]) -> Callable[[Window], ReportTable]:
        if name in _REPORTS:
            raise ValueError(f"report {name!r} is registered twice")
        _REPORTS[name] = Report(name, title, description, build, default_span)
        return build

    return decorate


def all_reports() -> list[Report]:
    return sorted(_REPORTS.values(), key=lambda report: report.name)


def get_report(name: str) -> Report:
    try:
        return _REPORTS[name]
    except KeyError:
        known = ", ".join(sorted(_REPORTS))
        raise UnknownReport(f"no report named {name!r} (known: {known})") from None


def run_report(*, name: str, window: Window) -> ReportTable:
    return get_report(name).build(window)
