"""Every demo user the README lists exists, and every page the README sends them to opens."""

from __future__ import annotations

import re

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from demo.seed import USERS
from tests.conftest import BASE_DIR

pytestmark = pytest.mark.django_db

PASSWORD = "pw-for-tests-123"
ROW = re.compile(r"^\| (`[a-z0-9]+`(?:, `[a-z0-9]+`)*) \|.*\| (.+) \|$")
LINK = re.compile(r"\]\(http://127\.0\.0\.1:8000(/[^)]*)\)")


def _demo_users_table() -> dict[str, list[str]]:
    """username -> the paths of its "where it is" cell, from README's "The demo"."""
    readme = (BASE_DIR / "README.md").read_text()
    section = readme.split("## The demo\n", 1)[1].split("\n## ", 1)[0]
    found: dict[str, list[str]] = {}
    for line in section.splitlines():
        match = ROW.match(line)
        if match:
            for username in re.findall(r"`([a-z0-9]+)`", match[1]):
                found[username] = LINK.findall(match[2])
    return found


def test_the_readme_lists_every_demo_user_and_each_opens_their_pages():
    call_command("seed_demo", "--password", PASSWORD)
    table = _demo_users_table()

    assert set(table) == {username for username, _, _ in USERS}
    for username, paths in table.items():
        client = Client()
        login = client.post(
            reverse("admin:login"), {"username": username, "password": PASSWORD, "next": "/"}
        )
        assert login.status_code == 302, username
        assert paths, username
        for path in paths:
            assert client.get(path).status_code == 200, (username, path)
