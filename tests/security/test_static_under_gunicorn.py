"""Admin and Swagger UI under gunicorn with DEBUG off, as production runs them, in a browser.

Django serves no static file with DEBUG off; WhiteNoise serves what `collectstatic` put in
STATIC_ROOT (a temporary one here). Screenshots go to artifacts/.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest
from django.db import connection
from playwright.sync_api import expect

# The browser fixtures of the reviewer's browser test: Debian's chromium, one page.
from tests.approvals.test_browser import (  # noqa: F401 - fixtures, used by name
    ARTIFACTS,
    PASSWORD,
    browser_page,
    chromium,
)
from tests.conftest import BASE_DIR, gunicorn_serving, subprocess_database_url
from tests.factories import user_with_perms


@pytest.fixture
def production_gunicorn(live_db, tmp_path) -> Iterator[str]:
    """collectstatic into a fresh STATIC_ROOT, then gunicorn with DEBUG off and a real key."""
    env = {
        **os.environ,
        "DATABASE_URL": subprocess_database_url(),
        "OPSCORE_DEBUG": "0",
        "OPSCORE_SECRET_KEY": secrets.token_urlsafe(50),
        "OPSCORE_STATIC_ROOT": str(tmp_path / "static"),
        "OPSCORE_LOG_LEVEL": "WARNING",
    }
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
        cwd=BASE_DIR,
        env=env,
        check=True,
        timeout=300,
    )
    with gunicorn_serving(env=env, log_path=tmp_path / "gunicorn.log") as url:
        yield url


@pytest.mark.browser
def test_admin_css_and_swagger_ui_load_under_gunicorn_with_debug_off(
    production_gunicorn,
    browser_page,  # noqa: F811 - the imported fixture
):
    viewer = user_with_perms("processes.view_order", username="vera")
    assert not viewer.is_superuser
    page = browser_page
    static_statuses: dict[str, int] = {}
    page.on(
        "response",
        lambda response: (
            static_statuses.__setitem__(response.url, response.status)
            if "/static/" in response.url
            else None
        ),
    )

    # Django's own 404 page with DEBUG off is the proof that DEBUG is really off here.
    assert httpx.get(f"{production_gunicorn}/no-such-page/").status_code == 404
    assert "Traceback" not in httpx.get(f"{production_gunicorn}/no-such-page/").text

    page.goto(f"{production_gunicorn}/admin/login/?next=/admin/")
    page.fill("input[name=username]", viewer.username)
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.click("input[type=submit]")
    expect(page.locator("#user-tools")).to_contain_text("vera")
    expect(page.get_by_role("link", name="Orders").first).to_be_visible()

    base_css = f"{production_gunicorn}/static/admin/css/base.css"
    assert static_statuses.get(base_css) == 200, static_statuses
    # base.css styles the header; unstyled, it would be transparent and the page plain.
    header_background = page.locator("#header").evaluate(
        "element => getComputedStyle(element).backgroundColor"
    )
    assert header_background not in {"rgba(0, 0, 0, 0)", "transparent"}
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"admin-gunicorn-{connection.vendor}.png"), full_page=True)

    page.goto(f"{production_gunicorn}/api/v1/docs/")
    operations = page.locator(".opblock")
    expect(operations.first).to_be_visible()
    expect(page.locator(".opblock-summary-path", has_text="/api/v1/events").first).to_be_visible()
    assert operations.count() > 5
    swagger = [url for url in static_statuses if "swagger-ui" in url]
    assert any(url.endswith("swagger-ui-bundle.js") for url in swagger), static_statuses
    assert all(static_statuses[url] == 200 for url in swagger), static_statuses
    page.screenshot(
        path=str(ARTIFACTS / f"swagger-gunicorn-{connection.vendor}.png"), full_page=True
    )
