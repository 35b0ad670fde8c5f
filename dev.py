#!/usr/bin/env python3
"""opscore's two entry points on a fresh clone with only Python 3.11+.

python3 dev.py demo    set up, then run web + worker + carrier/payments sandboxes + mail sink
                       with demo data; Ctrl-C or SIGTERM stops them all
python3 dev.py test    set up, then run the whole test suite (extra args go to pytest)
python3 dev.py lint    ruff check, ruff format --check, Django system checks (with --database),
                       import layers
python3 dev.py manage <command> [args]
                       set up, then run a manage.py command with the development environment
python3 dev.py db-roles [--adopt-existing]
                       PostgreSQL: with DATABASE_URL naming a superuser, create the owner and
                       runtime roles for its database, migrate as the owner, print both URLs
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
# An interpreter whose environment already holds the project (a virtualenv of one's own):
# dev.py then uses it as it is and never creates or installs into .venv.
OWN_PYTHON = os.environ.get("OPSCORE_DEV_PYTHON", "").strip()
BIN = Path(OWN_PYTHON).parent if OWN_PYTHON else VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = Path(OWN_PYTHON) if OWN_PYTHON else BIN / "python"
STAMP = VENV / ".opscore-installed"

DEMO_PASSWORD = "opscore-demo"  # noqa: S105 - the documented demo login, local only


def say(message: str) -> None:
    print(f"[opscore] {message}", flush=True)


def run(*args: str | Path, env: dict[str, str] | None = None) -> None:
    subprocess.run([str(a) for a in args], cwd=ROOT, env=env, check=True)


def setup() -> None:
    """Create .venv and install the project with its dev extras, once per pyproject change."""
    if sys.version_info < (3, 11):  # noqa: UP036 - runs before any 3.11-only code
        sys.exit(f"opscore needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    if OWN_PYTHON:
        return
    if not PYTHON.exists():
        say("creating .venv")
        run(sys.executable, "-m", "venv", VENV)
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    say("installing dependencies into .venv (first run takes a minute)")
    run(PYTHON, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    run(PYTHON, "-m", "pip", "install", "--quiet", "-e", f"{ROOT}[dev]")
    STAMP.write_text(wanted)


def manage(*args: str, env: dict[str, str] | None = None) -> None:
    run(PYTHON, "manage.py", *args, env=env)


def dev_env(**extra: str) -> dict[str, str]:
    """The environment of a local run: DEBUG on unless the caller says otherwise.

    Settings refuse to start with DEBUG off and no secret key of one's own; on a laptop the
    public development key is fine, so every dev.py command but `test` (which runs as
    production does, see opscore/pytest_plugin.py) turns DEBUG on.
    """
    return {**os.environ, "OPSCORE_DEBUG": os.environ.get("OPSCORE_DEBUG", "1"), **extra}


def wait_for_http(url: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback
                return response.status < 500
        except OSError:
            time.sleep(0.3)
    return False


def worker_finished_demo_steps(env: dict[str, str], timeout: float = 120) -> bool:
    """--smoke: the worker must have run every queued demo step, not just started."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = subprocess.run(
            [str(PYTHON), "manage.py", "demo_status"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        if "unfinished executions: 0" in status:
            print(status, flush=True)
            return True
        time.sleep(2)
    say("the worker did not finish the demo steps in time")
    return False


# SIGHUP (the terminal closed) exists on POSIX only.
STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)
)


class Stop(Exception):
    """SIGTERM or SIGHUP: shut the demo down as Ctrl-C does."""


def _raise_stop(signum: int, frame: object) -> None:
    raise Stop(signal.Signals(signum).name)


class Children:
    """The demo's long-running processes, each the leader of its own process group.

    A terminal's Ctrl-C reaches dev.py alone, which then stops every child the same way a
    SIGTERM to dev.py does: SIGTERM to each leader (django-q2's sentinel stops its workers in
    order; signalled all at once they die under it and it waits half a minute), then SIGKILL
    to whatever is left of each group, so no worker outlives the demo.
    """

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.processes: list[subprocess.Popen] = []

    def start(self, *args: str) -> subprocess.Popen:
        process = subprocess.Popen(
            [str(PYTHON), *args], cwd=ROOT, env=self.env, start_new_session=True
        )
        self.processes.append(process)
        return process

    def all_running(self) -> bool:
        return all(process.poll() is None for process in self.processes)

    @staticmethod
    def _kill_group(process: subprocess.Popen) -> None:
        if not hasattr(os, "killpg"):  # no process groups (Windows): the child alone
            if process.poll() is None:
                process.kill()
            return
        # The group may be gone already.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)

    def stop(self, timeout: float = 15) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for process in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
        for process in self.processes:
            self._kill_group(process)
            if process.poll() is None:
                process.wait()


def wait_for_port(port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2):
                return True
        except OSError:
            time.sleep(0.3)
    return False


def demo(args: list[str]) -> int:
    smoke = "--smoke" in args
    port = os.environ.get("OPSCORE_PORT", "8000")
    carrier_port = os.environ.get("OPSCORE_CARRIER_PORT", "8025")
    payments_port = os.environ.get("OPSCORE_PAYMENTS_PORT", "8026")
    mail_port = os.environ.get("OPSCORE_EMAIL_PORT", "1025")
    env = dev_env(
        OPSCORE_CARRIER_URL=f"http://127.0.0.1:{carrier_port}/shipments",
        OPSCORE_PAYMENTS_URL=f"http://127.0.0.1:{payments_port}/payments",
        OPSCORE_BASE_URL=f"http://127.0.0.1:{port}",
        # Every mail the demo sends goes to its own sink, readable in admin.
        OPSCORE_EMAIL_HOST="127.0.0.1",
        OPSCORE_EMAIL_PORT=mail_port,
    )
    for stop_signal in STOP_SIGNALS:
        signal.signal(stop_signal, _raise_stop)
    children = Children(env)
    try:
        setup()
        say("migrating the database")
        manage("migrate", "--verbosity", "0", env=env)
        # The shared cache (django-q2's cluster heartbeats, read by /readyz), and the admin's and
        # Swagger UI's assets, as production has them (README "Production").
        manage("createcachetable", env=env)
        manage("collectstatic", "--noinput", "--verbosity", "0", env=env)
        say("loading demo users and data")
        manage("seed_demo", "--password", DEMO_PASSWORD, env=env)
        children.start("manage.py", "run_mail_sink", "--port", mail_port)
        children.start("manage.py", "run_sandbox", "carrier", "--port", carrier_port)
        children.start("manage.py", "run_sandbox", "payments", "--port", payments_port)
        children.start("manage.py", "qcluster")
        children.start("manage.py", "runserver", "--noreload", f"127.0.0.1:{port}")
        admin_url = f"http://127.0.0.1:{port}/admin/"
        if not wait_for_http(f"{admin_url}login/", timeout=60):
            say("the web server did not come up; see the output above")
            return 1
        if not wait_for_port(int(mail_port), timeout=30):
            say("the mail sink did not come up; see the output above")
            return 1
        print(
            "\n"
            f"  opscore is running: {admin_url}\n"
            f"  log in as admin / {DEMO_PASSWORD}   (every demo user has this password;"
            " README lists them)\n"
            f"  reviewers' queues: {admin_url}approvals/  (reviewer, manager, director,"
            " approver, supervisor)\n"
            f"  rule changes: {admin_url}decisions/  (author drafts, publisher publishes)\n"
            f"  mail sent by the demo: {admin_url}demo/receivedmail/"
            f"  (SMTP sink on 127.0.0.1:{mail_port})\n"
            "  web, worker (django-q2 cluster), carrier and payments sandboxes and the mail sink"
            " are up; Ctrl-C stops all.\n",
            flush=True,
        )
        if smoke:
            return 0 if worker_finished_demo_steps(env) else 1
        while children.all_running():
            time.sleep(1)
        say("a process stopped; shutting the demo down")
        return 1
    except (KeyboardInterrupt, Stop):
        return 0
    finally:
        # A second Ctrl-C or SIGTERM must not cut the shutdown short and strand a child.
        for stop_signal in (signal.SIGINT, *STOP_SIGNALS):
            signal.signal(stop_signal, signal.SIG_IGN)
        children.stop()


def test(args: list[str]) -> int:
    setup()
    return subprocess.run([str(PYTHON), "-m", "pytest", *args], cwd=ROOT, check=False).returncode


def lint(args: list[str]) -> int:
    setup()
    checks = [
        [str(BIN / "ruff"), "check", "."],
        [str(BIN / "ruff"), "format", "--check", "."],
        [str(PYTHON), "manage.py", "check", "--fail-level", "WARNING"],
        # The checks that read tables too: queue groups, escalation policies, rule sets,
        # trigger bindings and live instances against the workflow declarations.
        [str(PYTHON), "manage.py", "check", "--database", "default", "--fail-level", "WARNING"],
        [str(PYTHON), "manage.py", "makemigrations", "--check", "--dry-run"],
        # Layers only look down (the contract is in pyproject.toml).
        [str(BIN / "lint-imports")],
    ]
    failed = 0
    for command in checks:
        failed |= subprocess.run(command, cwd=ROOT, env=dev_env(), check=False).returncode
    return 1 if failed else 0


def db_roles(args: list[str]) -> int:
    """Least privilege for a PostgreSQL database (README "Database roles")."""
    admin_url = os.environ.get("DATABASE_URL", "")
    parts = urllib.parse.urlsplit(admin_url)
    if parts.scheme not in {"postgres", "postgresql"} or not parts.path.strip("/"):
        say("set DATABASE_URL to postgres://<superuser>@<host>:<port>/<database> first")
        return 2
    database = parts.path.strip("/")
    owner, runtime = f"{database}_owner", f"{database}_app"
    host = parts.hostname or "127.0.0.1"
    port = parts.port or 5432

    passwords = {
        owner: os.environ.get("OPSCORE_DB_OWNER_PASSWORD", ""),
        runtime: os.environ.get("OPSCORE_DB_RUNTIME_PASSWORD", ""),
    }

    def url(role: str, *, secret: bool = True) -> str:
        password = passwords[role] and (
            f":{urllib.parse.quote(passwords[role], safe='')}" if secret else ":<password>"
        )
        return f"postgres://{role}{password}@{host}:{port}/{database}"

    setup()
    say(f"creating roles {owner} (owns the schema) and {runtime} (the application)")
    manage(
        "setup_db_roles",
        "--owner",
        owner,
        "--runtime",
        runtime,
        *args,
        env=dev_env(DATABASE_URL=admin_url),
    )
    roles_env = dev_env(DATABASE_URL=url(runtime), OPSCORE_MIGRATION_DATABASE_URL=url(owner))
    say(f"migrating as {owner}")
    manage("migrate", "--verbosity", "0", env=roles_env)
    manage("createcachetable", env=roles_env)
    print(
        "\n  Run opscore with these (migrate and createcachetable log in as the owner):\n\n"
        f"  export DATABASE_URL={url(runtime, secret=False)}\n"
        f"  export OPSCORE_MIGRATION_DATABASE_URL={url(owner, secret=False)}\n",
        flush=True,
    )
    return 0


def manage_command(args: list[str]) -> int:
    """Any manage.py command with the environment the other dev.py commands use."""
    setup()
    return subprocess.run(
        [str(PYTHON), "manage.py", *args], cwd=ROOT, env=dev_env(), check=False
    ).returncode


def main() -> int:
    commands = {
        "demo": demo,
        "test": test,
        "lint": lint,
        "db-roles": db_roles,
        "manage": manage_command,
    }
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        print(__doc__)
        return 2
    return commands[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
