"""The approvals browser test's Debian chromium and Playwright page, shared with this app's."""

from tests.approvals.test_browser import browser_page, chromium  # noqa: F401
