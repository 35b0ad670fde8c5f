"""`python3 dev.py demo` stops every process it started on SIGTERM, as on Ctrl-C."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import BASE_DIR, free_port, subprocess_database_url, wait_until


def _processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, state) of every process, from /proc."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
            found[int(entry.name)] = (int(fields[1]), fields[0])
    return found


def _descendants(root: int) -> set[int]:
    table = _processes()
    found, frontier = set(), {root}
    while frontier:
        frontier = {pid for pid, (parent, _) in table.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pids: set[int]) -> set[int]:
    table = _processes()
    return {pid for pid in pids if pid in table and table[pid][1] != "Z"}


@pytest.mark.worker
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads the process table from /proc")
def test_sigterm_stops_the_web_server_worker_sandboxes_and_mail_sink(live_db, tmp_path):
    log = tmp_path / "demo.log"
    env = {
        **os.environ,
        # This interpreter already holds the project: no .venv is made or installed into.
        "OPSCORE_DEV_PYTHON": sys.executable,
        "DATABASE_URL": subprocess_database_url(),
        "OPSCORE_PORT": str(free_port()),
        "OPSCORE_CARRIER_PORT": str(free_port()),
        "OPSCORE_PAYMENTS_PORT": str(free_port()),
        "OPSCORE_EMAIL_PORT": str(free_port()),
        "OPSCORE_STATIC_ROOT": str(tmp_path / "static"),
        "OPSCORE_LOG_LEVEL": "WARNING",
    }
    with log.open("ab") as output:
        demo = subprocess.Popen(
            [sys.executable, "dev.py", "demo"],
            cwd=BASE_DIR,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    started: set[int] = set()
    try:
        assert wait_until(lambda: "opscore is running" in log.read_text(), timeout=120), (
            log.read_text()[-4000:]
        )
        started = _descendants(demo.pid)
        commands = {(Path("/proc") / str(pid) / "cmdline").read_bytes() for pid in started}
        for child in (b"run_mail_sink", b"run_sandbox", b"qcluster", b"runserver"):
            assert any(child in command for command in commands), (child, commands)

        demo.send_signal(signal.SIGTERM)

        assert demo.wait(timeout=30) == 0
        assert wait_until(lambda: not _alive(started), timeout=5), _alive(started)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(demo.pid, signal.SIGKILL)
        for pid in _alive(started):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        demo.wait(timeout=10)
