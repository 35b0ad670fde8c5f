"""Ingestion benchmark: POST /api/v1/events through gunicorn under wrk, against a same-run ceiling.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/opscore_trigger_bench \\
        .venv/bin/python bench/ingest_bench.py --seconds 15

Every measured event takes the full path: Api-Key authentication, JSON Schema validation,
deduplication, the inbound event row, the order instance created, `workflow.started` and
`execution.scheduled` appended to the hash-chained log, and the `policy.check` step enqueued
(an Execution row and a django-q2 queue row). The ceiling, measured in the same run with the
same gunicorn configuration and load: a bare DRF endpoint inserting one row into PostgreSQL.
The target is ingest / ceiling >= 0.5.

A third phase, the floor, runs full routing's database round trips as raw SQL from a bare DRF
view (`bench/ingest_urls.py`): the same reads, one-row stand-ins for the writes, the log's
global lock at commit. It bounds what any implementation with those round trips could reach,
so floor / ceiling says how much of the gap is the database work itself and ingest / floor
how much is opscore's Python on top.

A fourth phase, batch, sends `POST /api/v1/events:batch` with --batch (100) events a request,
every one fully routed as above; its figure is events (not requests) per second, beside the
floor's. The floor also pays the key's rate-limit upsert, as ingestion does.

Each phase also reports its CPU per event (per request for ceiling and floor), read from /proc
before and after it: the gunicorn workers', PostgreSQL's (the bench database's backends and
the server's background processes) and the whole machine's (wrk and anything else running),
so a run says whether Python or the database sets its rate.

With --profile PATH, py-spy samples the gunicorn workers during the ingest (or, with
--profile-phase batch, the batch) phase and a summary of where the samples fell is printed;
`bench/ingest_profile.py` gives the same breakdown by CPU time in one process.

The database named in DATABASE_URL is dropped and recreated (its name must end in `_bench`).
wrk (the load generator) is taken from PATH; `apt-get install wrk` provides it. gunicorn comes
with the project's dev extra (`pip install -e .[dev]`, which `python3 dev.py test` runs).
Loopback only; each phase is bounded by --seconds.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EVENTS = "/api/v1/events"
BATCH = "/api/v1/events:batch"
sys.path.insert(0, str(ROOT))

WRK_SCRIPT = r"""
local counter = 0
local thread_index = 0
function setup(thread)
  thread:set("tid", thread_index)
  thread_index = thread_index + 1
end
function init(args)
  key = args[1]
  run = args[2]
  target = args[3]
  batch = tonumber(args[4])
end
local function event(id)
  return string.format(
    '{"type":"order.received","source":"bench","occurred_at":"2026-11-25T12:00:00Z",' ..
    '"correlation_key":"%s","payload":{"order_id":"%s","customer":"bench",' ..
    '"postcode":"AB1 2CD","weight_kg":2.5,"value":120}}', id, id)
end
function request()
  counter = counter + 1
  local id = run .. "-" .. tid .. "-" .. counter
  if batch > 0 then
    local items = {}
    for n = 1, batch do
      local item_id = id .. "-" .. n
      items[n] = string.format('{"idempotency_key":"%s","event":%s}', item_id, event(item_id))
    end
    return wrk.format("POST", target, {
      ["Content-Type"] = "application/json",
      ["Authorization"] = "Api-Key " .. key,
    }, '{"events":[' .. table.concat(items, ",") .. ']}')
  end
  local body = event(id)
  return wrk.format("POST", target, {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Api-Key " .. key,
    ["Idempotency-Key"] = id,
  }, body)
end
function done(summary, latency, requests)
  io.write(string.format(
    'RESULT {"requests":%d,"duration_us":%d,"status_errors":%d,"connect_errors":%d,' ..
    '"read_errors":%d,"timeouts":%d,"p50_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, summary.errors.status, summary.errors.connect,
    summary.errors.read, summary.errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _recreate_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1].split("?")[0]
    if not name.endswith("_bench"):
        sys.exit(f"refusing to drop {name!r}: the bench database's name must end in _bench")
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')


def _prepare(env: dict[str, str]) -> str:
    """Migrate, create the ceiling table and a bench API key; return the key."""
    python = sys.executable
    subprocess.run(
        [python, "manage.py", "migrate", "--verbosity", "0"], cwd=ROOT, env=env, check=True
    )
    subprocess.run(
        [
            python,
            "manage.py",
            "dbshell",
            "--",
            "-c",
            "CREATE TABLE bench_ceiling (id bigserial PRIMARY KEY, body jsonb NOT NULL);"
            "CREATE TABLE bench_floor (id bigserial PRIMARY KEY, kind text, body jsonb NOT NULL);"
            "CREATE TABLE bench_floor_head (id int PRIMARY KEY, last_seq bigint NOT NULL);"
            "INSERT INTO bench_floor_head VALUES (1, 0)",
        ],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    created = subprocess.run(
        [python, "manage.py", "create_api_key", "bench", "--scope", "events:write"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return created.stdout.strip().splitlines()[-1]


def _wait_for(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - loopback
                return
        except OSError:
            time.sleep(0.3)
    sys.exit(f"gunicorn did not answer at {url}")


def _wrk(
    *,
    wrk: str,
    url: str,
    target: str,
    key: str,
    run: str,
    seconds: int,
    threads: int,
    conns: int,
    batch: int = 0,
):
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT)
    output = subprocess.run(
        [
            wrk,
            f"-t{threads}",
            f"-c{conns}",
            f"-d{seconds}s",
            "--timeout",
            # A batch of 100 on a busy machine takes seconds; a timed-out one counts as lost.
            "60s" if batch else "10s",
            "-s",
            script.name,
            url,
            "--",
            key,
            run,
            target,
            str(batch),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 120,
    ).stdout
    line = next(line for line in output.splitlines() if line.startswith("RESULT "))
    result = json.loads(line.removeprefix("RESULT "))
    result["per_second"] = result["requests"] / (result["duration_us"] / 1e6)
    return result


def _cpu_seconds(*, gunicorn_pid: int, database: str) -> dict[str, dict[str, float]]:
    """CPU seconds used so far by each gunicorn worker and each PostgreSQL process serving
    the bench (its database's backends and the server's own background processes, other
    databases' backends left out), and by the whole machine, from /proc (Linux only);
    "server" holds every PostgreSQL process but the postmaster, to tell which ended. Across
    a phase, `_cpu_used` turns two of these into where the phase's CPU went."""
    ticks = os.sysconf("SC_CLK_TCK")
    used: dict[str, dict[str, float]] = {"web": {}, "postgres": {}, "machine": {}, "server": {}}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            title = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:  # the process ended meanwhile
            continue
        command = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        seconds = (int(fields[11]) + int(fields[12])) / ticks
        if int(fields[1]) == gunicorn_pid:
            used["web"][entry] = seconds
        elif command.startswith("postgres") and not title.startswith("postgres:"):
            # The postmaster: its children's CPU once they ended (fields 16 and 17), so a
            # backend that closed mid-phase (a worker's connection reaching its maximum age)
            # still counts.
            used["postgres"]["ended"] = (int(fields[13]) + int(fields[14])) / ticks
        elif command.startswith("postgres"):
            used["server"][entry] = seconds
            # A backend's title is "postgres: [<cluster>: ]<user> <database> <client> <state>";
            # a background process's names its role ("walwriter", "autovacuum worker").
            words = title.removeprefix("postgres:").split()
            if words and words[0].endswith(":"):
                words = words[1:]
            backend = len(words) > 2 and ("(" in words[2] or words[2] == "[local]")
            if not backend or words[1] == database:
                used["postgres"][entry] = seconds
    cpu = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    # user nice system idle iowait irq softirq steal: busy is all but idle and iowait.
    used["machine"]["all"] = (sum(map(int, cpu[:8])) - int(cpu[3]) - int(cpu[4])) / ticks
    return used


def _cpu_used(before: dict, after: dict) -> dict[str, float]:
    """Seconds per role between two readings. A gunicorn worker that ended meanwhile is left
    out; a PostgreSQL process is counted through the postmaster's reaped children, less what
    it had used before the first reading (a backend of the previous phase, closed as this
    one began, brought its whole life's CPU into the reaped total: 4.81 ms of PostgreSQL CPU
    per event against 5.35 for the whole machine)."""
    used = {
        role: sum(seconds - before[role].get(pid, 0.0) for pid, seconds in after[role].items())
        for role in after
        if role != "server"
    }
    used["postgres"] -= sum(
        seconds for pid, seconds in before["server"].items() if pid not in after["server"]
    )
    return used


def _start_sampler(*, pid: int, path: str, seconds: int) -> subprocess.Popen:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    return subprocess.Popen(
        [
            py_spy,
            "record",
            "--pid",
            str(pid),
            "--subprocesses",
            "--format",
            "raw",
            "--rate",
            "250",
            "--duration",
            str(seconds),
            "--output",
            path,
        ],
        stdout=subprocess.DEVNULL,
    )


# Where a request's CPU goes, by the innermost frame of each stack that lies in one of these.
PROFILE_BUCKETS = (
    ("chain write at commit", "audit/chaining.py"),
    ("history (simple-history)", "simple_history/"),
    ("django-q2 enqueue", "django_q/"),
    ("JSON Schema", "jsonschema/"),
    ("rate limit", "opscore/throttling.py"),
    ("API key authentication", "integrations/authentication.py"),
    ("engine", "workflows/engine.py"),
    ("ingestion service", "integrations/services"),
    ("DRF + Django request handling", "django/core/handlers/"),
)


def _profile_summary(path: Path, top: int = 25) -> str:
    """Inclusive and own shares of the samples taken inside request handling."""
    own: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    buckets: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if "get_response" not in stack and "handle_request" not in stack:
            continue  # the master, idle workers waiting in select()
        count = int(count_text)
        total += count
        frames = stack.split(";")
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + count
        own[frames[-1]] = own.get(frames[-1], 0) + count
        bucket = "other"
        for frame in reversed(frames):
            hit = next((name for name, where in PROFILE_BUCKETS if where in frame), None)
            if hit is not None and hit != "DRF + Django request handling":
                bucket = hit
                break
        buckets[bucket] = buckets.get(bucket, 0) + count
    if not total:
        return "no request samples"
    lines = [f"{total} samples inside requests", "by the innermost part named in PROFILE_BUCKETS:"]
    lines += [
        f"  {n / total:6.1%}  {name}" for name, n in sorted(buckets.items(), key=lambda i: -i[1])
    ]
    lines.append("inclusive:")
    lines += [
        f"  {n / total:6.1%}  {frame}"
        for frame, n in sorted(inclusive.items(), key=lambda i: -i[1])[:top]
    ]
    lines.append("own:")
    lines += [
        f"  {n / total:6.1%}  {frame}"
        for frame, n in sorted(own.items(), key=lambda i: -i[1])[:top]
    ]
    return "\n".join(lines)


def _count(env: dict[str, str], sql: str) -> int:
    out = subprocess.run(
        [sys.executable, "manage.py", "dbshell", "--", "-tA", "-c", sql],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return int(out.strip())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=15, help="measured seconds per phase")
    parser.add_argument("--warmup", type=int, default=3)
    # sync workers take a connection only when idle and close it after the response, so
    # requests spread over every worker. gthread keeps keep-alive connections on the worker
    # that accepted them, and two runs of the same code measured 75 and 154 events/s
    # depending on how wrk's connections happened to land.
    parser.add_argument(
        "--worker-class", default="sync", choices=["sync", "gthread"], help="gunicorn workers"
    )
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    # One thread a worker: both endpoints are CPU-bound Python, and on a small machine more
    # threads only queue on the GIL (4x4 with 16 connections measured 30% fewer events/s).
    parser.add_argument("--threads", type=int, default=1, help="threads per gthread worker")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections")
    parser.add_argument(
        "--profile",
        metavar="PATH",
        help="sample the gunicorn workers with py-spy during the ingest phase; collapsed "
        "stacks go to PATH and a summary (share of samples per function) to stdout",
    )
    parser.add_argument(
        "--profile-phase",
        default="ingest",
        choices=["ingest", "batch"],
        help="the phase --profile samples",
    )
    parser.add_argument(
        "--batch", type=int, default=100, help="events per batch request (0: no batch phase)"
    )
    parser.add_argument("--batch-seconds", type=int, default=40, help="measured batch seconds")
    parser.add_argument(
        "--batch-settle",
        type=float,
        default=10,
        help="seconds to wait after the batch warm-up for its unfinished requests",
    )
    args = parser.parse_args()

    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        sys.exit("set DATABASE_URL to a PostgreSQL database whose name ends in _bench")
    wrk = shutil.which("wrk")
    if wrk is None:
        sys.exit("wrk not found on PATH: apt-get install wrk")
    _recreate_database(url)
    database = url.rsplit("/", 1)[1].split("?")[0]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.ingest_settings",
        "OPSCORE_DEBUG": "false",
        "OPSCORE_LOG_LEVEL": "ERROR",
        "OPSCORE_DB_CONN_MAX_AGE": "60",
        "OPSCORE_VAR_DIR": tempfile.mkdtemp(prefix="opscore-bench-"),
        # Production settings refuse to start without a strong secret and an audit key.
        "OPSCORE_SECRET_KEY": os.environ.get("OPSCORE_SECRET_KEY") or secrets.token_urlsafe(50),
        "OPSCORE_AUDIT_KEYS": os.environ.get("OPSCORE_AUDIT_KEYS")
        or "bench:" + base64.b64encode(secrets.token_bytes(32)).decode(),
        # The per-key rate limit stays on (its one upsert per request is part of the path),
        # with a budget the load cannot spend.
        "OPSCORE_THROTTLE_KEY": "100000000/min",
    }
    key = _prepare(env)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    gunicorn = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "opscore.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--worker-class",
            args.worker_class,
            "--workers",
            str(args.workers),
            "--threads",
            str(args.threads),
            "--backlog",
            "1024",
            # A batch request on a busy machine can outlast gunicorn's default 30 s.
            "--timeout",
            "120",
            "--log-level",
            "error",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    load = {"wrk": wrk, "url": base, "key": key, "threads": 2, "conns": args.connections}
    try:
        _wait_for(f"{base}/admin/login/")
        results = {}
        phases = (
            ("ceiling", "/bench/ceiling", 0),
            ("floor", "/bench/floor", 0),
            ("ingest", EVENTS, 0),
            ("batch", BATCH, args.batch),
        )
        for name, target, batch in phases:
            if name == "batch" and not args.batch:
                continue
            # A batch request is seconds of work: one connection per worker, so none queues
            # behind another, and a longer window, so requests in flight at its edges weigh
            # little. The warm-up's unfinished requests run on after wrk stops: wait them out.
            phase_load = {**load, "conns": args.workers} if batch else load
            seconds = args.batch_seconds if batch else args.seconds
            _wrk(**phase_load, target=target, run=f"{name}-warm", seconds=args.warmup, batch=batch)
            if batch:
                time.sleep(args.batch_settle)
            sampler = None
            if args.profile and args.profile_phase == name:
                sampler = _start_sampler(pid=gunicorn.pid, path=args.profile, seconds=seconds)
            cpu_before = _cpu_seconds(gunicorn_pid=gunicorn.pid, database=database)
            results[name] = _wrk(
                **phase_load, target=target, run=name, seconds=seconds, batch=batch
            )
            cpu = _cpu_used(cpu_before, _cpu_seconds(gunicorn_pid=gunicorn.pid, database=database))
            results[name]["events_per_second"] = results[name]["per_second"] * max(batch, 1)
            events = results[name]["requests"] * max(batch, 1)
            results[name]["cpu_ms_per_event"] = {
                role: round(seconds * 1000 / max(events, 1), 2) for role, seconds in cpu.items()
            }
            if sampler is not None:
                sampler.wait(timeout=60)
    finally:
        gunicorn.terminate()
        gunicorn.wait(timeout=30)

    instances = int(
        subprocess.run(
            [
                sys.executable,
                "manage.py",
                "shell",
                "-c",
                "from workflows import registry; "
                "print(registry.get('order').model.objects.count())",
            ],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()[-1]
    )
    inbound = _count(env, "SELECT count(*) FROM integrations_inboundevent")
    queued = _count(env, "SELECT count(*) FROM django_q_ormq")
    started = _count(env, "SELECT count(*) FROM audit_event WHERE type = 'workflow.started'")
    refused = _count(env, "SELECT count(*) FROM integrations_rejection")
    ingest, floor, ceiling = results["ingest"], results["floor"], results["ceiling"]
    ratio = ingest["per_second"] / ceiling["per_second"]
    report = {
        "database": "postgresql",
        "gunicorn": f"{args.worker_class}, {args.workers} workers"
        + (f" x {args.threads} threads" if args.worker_class == "gthread" else ""),
        "load": f"wrk 2 threads, {args.connections} connections, {args.seconds}s per phase"
        + (f"; batch: {args.workers} connections, {args.batch_seconds}s" if args.batch else ""),
        "ceiling_per_s": round(ceiling["per_second"], 1),
        "ceiling_p50_ms": ceiling["p50_us"] / 1000,
        "ceiling_p99_ms": ceiling["p99_us"] / 1000,
        "ingest_per_s": round(ingest["per_second"], 1),
        "ingest_p50_ms": ingest["p50_us"] / 1000,
        "ingest_p99_ms": ingest["p99_us"] / 1000,
        "ratio": round(ratio, 3),
        "floor_per_s": round(floor["per_second"], 1),
        "floor_p50_ms": floor["p50_us"] / 1000,
        "floor_p99_ms": floor["p99_us"] / 1000,
        "floor_to_ceiling": round(floor["per_second"] / ceiling["per_second"], 3),
        "ingest_to_floor": round(ingest["per_second"] / floor["per_second"], 3),
        "ingest_to_old_146_per_s": round(ingest["per_second"] / 146, 2),
        **(
            {
                "batch_size": args.batch,
                "batch_events_per_s": round(results["batch"]["events_per_second"], 1),
                "batch_requests_per_s": round(results["batch"]["per_second"], 1),
                "batch_p50_ms": results["batch"]["p50_us"] / 1000,
                "batch_p99_ms": results["batch"]["p99_us"] / 1000,
                "batch_to_floor": round(
                    results["batch"]["events_per_second"] / floor["per_second"], 3
                ),
            }
            if "batch" in results
            else {}
        ),
        # Per event (per request for ceiling and floor): the gunicorn workers' CPU,
        # PostgreSQL's, and the whole machine's (wrk and everything else included).
        "cpu_ms_per_event": {name: r["cpu_ms_per_event"] for name, r in results.items()},
        "non_2xx": {name: r["status_errors"] for name, r in results.items()},
        "socket_errors": {
            name: r["connect_errors"] + r["read_errors"] + r["timeouts"]
            for name, r in results.items()
        },
        "checked": {
            "inbound_events": inbound,
            "instances": instances,
            "workflow_started_events": started,
            "queued_steps": queued,
            "rejections": refused,
        },
    }
    print(json.dumps(report, indent=2))
    if args.profile:
        print(_profile_summary(Path(args.profile)))
    if (
        refused
        or not (inbound == instances == started == queued)
        or any(r["status_errors"] for r in results.values())
    ):
        sys.exit("ingestion did not route every event fully; the figures above are not valid")


if __name__ == "__main__":
    main()
