"""A real gunicorn on loopback serving the test database, for tests that need real HTTP load."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.conftest import gunicorn_serving, subprocess_database_url


@pytest.fixture
def gunicorn_url(live_db, tmp_path) -> Iterator[str]:
    """Two gthread workers on a deep backlog: fifty clients connect at once without resets."""
    env = {**os.environ, "DATABASE_URL": subprocess_database_url(), "OPSCORE_LOG_LEVEL": "ERROR"}
    with gunicorn_serving(
        env=env,
        log_path=tmp_path / "gunicorn.log",
        extra_args=("--threads", "16", "--backlog", "1024"),
    ) as url:
        yield url
