"""What a structured log line costs: opscore's JSON and console formatters against a same-run
ceiling, the stdlib's plain `%(asctime)s %(levelname)s %(name)s %(message)s` formatter that
opscore used before, for the same record with the same bound context.

    .venv/bin/python bench/log_bench.py [--lines 20000] [--runs 5]

Writes to an in-memory stream, so it measures formatting, not the disk. Prints microseconds
per line (median of the runs) and each format's ratio to the plain one.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opscore.settings")
os.environ.setdefault("OPSCORE_DEBUG", "1")

import django  # noqa: E402

django.setup()

import structlog  # noqa: E402

from opscore import logging_config, request_context  # noqa: E402

PLAIN = logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")


def _per_line_us(formatter: logging.Formatter, *, lines: int, native: bool) -> float:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    bench_logger = logging.getLogger("bench.logs")
    bench_logger.handlers = [handler]
    bench_logger.propagate = False
    bench_logger.setLevel(logging.INFO)
    structured = structlog.stdlib.get_logger("bench.logs")
    started = time.perf_counter()
    for attempt in range(lines):
        if native:
            structured.info("execution.started", attempt=attempt, max_attempts=6)
        else:
            bench_logger.info("execution started: attempt %s of %s", attempt, 6)
    return (time.perf_counter() - started) / lines * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    request_context.start(
        request_id="edge-01ad6226-3368-4826-aba6-5d30d825ecb7",
        correlation_key="SO-000001",
        workflow="order",
        instance=1,
        step="dispatch.execute",
        execution=2,
        idempotency_key="order:1:dispatch.execute:v1",
    )
    cases = {
        "plain stdlib (ceiling)": (PLAIN, False),
        "json, plain logging call": (logging_config.formatter(logging_config.JSON), False),
        "json, structlog call": (logging_config.formatter(logging_config.JSON), True),
        "console, structlog call": (logging_config.formatter(logging_config.CONSOLE), True),
    }
    medians = {}
    for name, (formatter, native) in cases.items():
        runs = [_per_line_us(formatter, lines=args.lines, native=native) for _ in range(args.runs)]
        medians[name] = statistics.median(runs)
    ceiling = medians["plain stdlib (ceiling)"]
    print(f"{args.lines} lines x {args.runs} runs, median microseconds per line:")
    for name, value in medians.items():
        print(f"  {name:28} {value:8.1f} us   {value / ceiling:5.2f}x the plain line")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
