"""A report table as text for a terminal, CSV or JSON."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from observability.reports.registry import ReportTable

FORMATS = ("table", "csv", "json")


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def as_csv(table: ReportTable) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(table.columns)
    writer.writerows([[_cell(value) for value in row] for row in table.rows])
    return out.getvalue()


def as_json(table: ReportTable) -> str:
    return json.dumps(
        {
            "title": table.title,
            "since": table.window.since.isoformat(),
            "until": table.window.until.isoformat(),
            "columns": list(table.columns),
            "rows": table.as_dicts(),
            "notes": list(table.notes),
        },
        indent=2,
    )


def as_text(table: ReportTable) -> str:
    cells = [list(table.columns), *[[_cell(value) for value in row] for row in table.rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(table.columns))]
    lines = [f"{table.title}  [{table.window.label()}]", ""]
    for number, row in enumerate(cells):
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
        if number == 0:
            lines.append("  ".join("-" * width for width in widths))
    if not table.rows:
        lines.append("(no rows)")
    lines.extend(["", *table.notes])
    return "\n".join(lines).rstrip() + "\n"


def render(table: ReportTable, *, format: str) -> str:
    return {"table": as_text, "csv": as_csv, "json": as_json}[format](table)
