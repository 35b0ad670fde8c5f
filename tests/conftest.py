"""Shared test fixtures: real servers on loopback, real workers, a database both can see."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.db import connection
from django.db.models.signals import post_migrate

from audit.triggers import install_append_only_guards, remove_append_only_guards
from integrations.carrier_sandbox import CarrierSandbox
from processes.seed import seed_every_workflow

BASE_DIR = Path(settings.BASE_DIR)


def _reseed_after_flush(sender, **kwargs) -> None:
    # A transactional test empties the database as it ends, then Django sends post_migrate:
    # the reference data the migrations wrote once is put back for the tests that follow, as
    # a freshly migrated database has it. Production never flushes; migrations seed it there.
    seed_every_workflow()


post_migrate.connect(
    _reseed_after_flush, sender=apps.get_app_config("processes"), dispatch_uid="tests.reseed"
)


@pytest.fixture
def carrier(settings) -> Iterator[CarrierSandbox]:
    """A real HTTP carrier on loopback that honours and counts Idempotency-Key."""
    sandbox = CarrierSandbox().start()
    settings.OPSCORE_CARRIER_URL = sandbox.url
    yield sandbox
    sandbox.stop()


@pytest.fixture(autouse=True)
def audit_anchor_dir(settings, tmp_path) -> Path:
    """Each test's own checkpoint file: one test's anchor must not judge another's log."""
    settings.OPSCORE_AUDIT_ANCHOR_DIR = tmp_path / "anchors"
    return settings.OPSCORE_AUDIT_ANCHOR_DIR


@pytest.fixture
def live_db(transactional_db, request, django_db_blocker) -> None:
    """Committed data, visible to worker subprocesses.

    The test database is emptied after such a test; the append-only guards would refuse
    that, so they are lifted for the flush and put back once teardown is over (see
    pytest_runtest_teardown below). Production has no such path.
    """
    request.node._opscore_restore_guards = django_db_blocker
    yield
    remove_append_only_guards(connection)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item, nextitem):
    result = yield
    blocker = getattr(item, "_opscore_restore_guards", None)
    # After the session's last test the test database itself is gone: nothing to restore.
    if blocker is not None and nextitem is not None:
        with blocker.unblock():
            install_append_only_guards(connection)
    return result


def subprocess_database_url() -> str:
    settings_dict = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings_dict['NAME']}"
    password = f":{settings_dict['PASSWORD']}" if settings_dict.get("PASSWORD") else ""
    return (
        f"postgres://{settings_dict['USER']}{password}@{settings_dict['HOST'] or '127.0.0.1'}"
        f":{settings_dict['PORT'] or 5432}/{settings_dict['NAME']}"
    )


class Cluster:
    """A real `manage.py qcluster` in its own process group, so it can be SIGKILLed whole."""

    def __init__(self, *, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def start(self) -> Cluster:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=BASE_DIR,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def kill(self) -> None:
        """SIGKILL the whole cluster: no cleanup, no acknowledgements, leases left behind."""
        if self.process and self.process.poll() is None:
            self._kill_group()
            self.process.wait(timeout=10)

    def stop(self) -> None:
        # SIGTERM to the sentinel alone: it stops its workers in order. Sent to the whole
        # group, the workers die under it and the sentinel waits on them for half a minute.
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=20)
        self._kill_group()  # whatever is left of the group, so no worker outlives the test

    def _kill_group(self) -> None:
        if self.process:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


@pytest.fixture
def qcluster(live_db, tmp_path) -> Iterator[Callable[..., Cluster]]:
    """Start real django-q2 clusters against the test database; all stopped at teardown."""
    clusters: list[Cluster] = []

    def start(**overrides: str) -> Cluster:
        env = {
            **os.environ,
            "DATABASE_URL": subprocess_database_url(),
            "OPSCORE_CARRIER_URL": settings.OPSCORE_CARRIER_URL,
            "OPSCORE_Q_WORKERS": "2",
            "OPSCORE_Q_POLL": "0.05",
            "OPSCORE_Q_TIMEOUT": "20",
            "OPSCORE_Q_RETRY": "30",
            "OPSCORE_LEASE_SECONDS": "5",
            "OPSCORE_BACKOFF_BASE_SECONDS": "0.2",
            "OPSCORE_BACKOFF_MAX_SECONDS": "1",
            "OPSCORE_LOG_LEVEL": "WARNING",
            **overrides,
        }
        cluster = Cluster(env=env, log_path=tmp_path / f"qcluster-{len(clusters)}.log").start()
        clusters.append(cluster)
        return cluster

    yield start
    for cluster in clusters:
        cluster.stop()


def free_port() -> int:
    """A loopback port nothing listens on now, for a server a test starts."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def gunicorn_serving(
    *, env: dict[str, str], log_path: Path, extra_args: tuple[str, ...] = ()
) -> Iterator[str]:
    """gunicorn on a free loopback port, two workers, until the block ends; yields its URL.

    The server is up once the admin login page answers; the log is shown if it never does.
    """
    import httpx

    def answers(url: str) -> bool:
        try:
            return httpx.get(url, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "opscore.wsgi:application"]
    command += ["--bind", f"127.0.0.1:{port}", "--workers", "2", *extra_args]
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            command,
            cwd=BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        assert wait_until(lambda: answers(f"{url}/admin/login/"), timeout=60), log_path.read_text()
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def wait_until(predicate: Callable[[], bool], *, timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
