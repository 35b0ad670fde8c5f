"""A real gunicorn on loopback serving the test database, for tests that need real HTTP load."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import BASE_DIR, free_port, subprocess_database_url, wait_until


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def gunicorn_url(live_db, tmp_path) -> Iterator[str]:
    """Two gthread workers on a deep backlog: fifty clients connect at once without resets."""
    port = free_port()
    log = (tmp_path / "gunicorn.log").open("ab")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "opscore.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--threads",
            "16",
            "--backlog",
            "1024",
        ],
        cwd=BASE_DIR,
        env={**os.environ, "DATABASE_URL": subprocess_database_url(), "OPSCORE_LOG_LEVEL": "ERROR"},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        assert wait_until(lambda: _answers(f"{url}/admin/login/"), timeout=60), (
            tmp_path / "gunicorn.log"
        ).read_text()
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
