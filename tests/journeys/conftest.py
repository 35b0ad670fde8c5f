"""What every journey shares: the demo's own users and data, a real browser, a mailbox.

The data is the demo's (`manage.py seed_demo`), with its queued steps run as the demo's worker
would (carrier and payments sandboxes on loopback), so a journey sees the day the demo shows.
Each test drives its own chromium, started and stopped inside the test's database fixture:
Playwright's loop must be gone from this thread before the test database is emptied (on
SQLite, a driver stopped after the flush left the next re-installation of the log's guards
seeing the old schema).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.management import call_command
from django.db import connection, connections

from demo.mail_sink import MailSink
from tests.approvals.conftest import payments, smtp  # noqa: F401 - fixtures reused
from tests.approvals.test_browser import ARTIFACTS, CHROMIUM_ARGS, chromium  # noqa: F401
from tests.conftest import free_port
from tests.workflows.drain import drain_executions

DEMO_PASSWORD = "demo-journeys-pw"


@pytest.fixture
def fast_passwords(settings) -> None:
    """Ten demo users hashed at production strength cost seconds per seed; the journeys log
    in for real, so only the hasher's cost changes, never the login path."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def demo_day(fast_passwords, carrier, payments) -> None:  # noqa: F811 - the fixture above
    """The demo's users and data, with the worker's first round done: small orders
    dispatched, the rest waiting in review; invoices paid or waiting for their approvers."""
    call_command("seed_demo", "--password", DEMO_PASSWORD, verbosity=0)
    drain_executions()


@pytest.fixture
def mail_sink(live_server, live_db, settings) -> Iterator[MailSink]:
    """The demo's SMTP sink: mail the journeys send is read in admin, as in the demo, and its
    links lead to this live server."""
    sink = MailSink(port=free_port()).start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = sink.host
    settings.EMAIL_PORT = sink.port
    settings.OPSCORE_BASE_URL = live_server.url
    # A sender that cannot deliver gives up in seconds, not the production ten.
    settings.EMAIL_TIMEOUT = 3
    yield sink
    sink.stop()


@pytest.fixture
def page(chromium, live_server, live_db) -> Iterator:  # noqa: F811 - the session fixture above
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread while it lives; the ORM calls the
    # tests make around it are still plain synchronous code.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
            context = browser.new_context(
                viewport={"width": 1400, "height": 900}, base_url=live_server.url
            )
            context.set_default_timeout(20_000)
            yield context.new_page()
            browser.close()
            # Connections the ORM opened while Playwright's loop ran would keep PostgreSQL
            # from dropping the test database at the end of the session.
            connections.close_all()


def log_in(page, username: str) -> None:
    page.context.clear_cookies()
    page.goto("/admin/login/?next=/admin/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", DEMO_PASSWORD)
    with page.expect_navigation():
        page.click("input[type=submit]")


def screenshot(page, name: str) -> None:
    """artifacts/<journey>-<step>-<database>.png: CI runs both databases side by side."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}-{connection.vendor}.png"), full_page=True)


def worker_round() -> int:
    """Run what the demo's worker would run now (steps queued by a decision)."""
    return drain_executions()
