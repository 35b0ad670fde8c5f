"""Production defaults: the README's environment passes `check --deploy`; unsafe starts are refused.

Each check runs `manage.py` in a fresh process with exactly the environment under test, as an
operator's shell would, since settings are read once, at import.
"""

from __future__ import annotations

import base64
import os
import re
import secrets
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.messages import constants
from django.urls import reverse

from integrations.models import ApiKey, Integration
from tests.factories import user_with_perms

BASE_DIR = Path(settings.BASE_DIR)
WARNING_ID = re.compile(r"\((?:[\w.]+\.)?[WE]\d+\)")
PUBLIC_KEY = "opscore-insecure-development-key-change-me"


def audit_keys() -> str:
    return f"a1:{base64.b64encode(secrets.token_bytes(32)).decode()}"


def readme_production_environment() -> dict[str, str]:
    """The `export NAME=value` lines of the README's "Production" section."""
    readme = (BASE_DIR / "README.md").read_text()
    match = re.search(r"^## Production\n(.*?)(?=^## )", readme, flags=re.M | re.S)
    assert match, "README has no '## Production' section"
    env = {}
    for line in match.group(1).splitlines():
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").partition("=")
            env[name] = shlex.split(value)[0]
    return env


def manage(*args: str, env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    base = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        # Never the developer's var/: a refused start must not be hidden by a stray file.
        "OPSCORE_VAR_DIR": str(tmp_path / "var"),
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_readme_production_environment_passes_the_deploy_check_with_no_warning(tmp_path):
    env = readme_production_environment()
    assert {
        "OPSCORE_SECRET_KEY",
        "OPSCORE_AUDIT_KEYS",
        "OPSCORE_SECURE_HSTS_SECONDS",
        "OPSCORE_ALLOWED_HOSTS",
    } <= set(env), env
    # The README's values are commands that make keys; the check gets keys made the same way.
    env["OPSCORE_SECRET_KEY"] = secrets.token_urlsafe(50)
    env["OPSCORE_AUDIT_KEYS"] = audit_keys()
    # The deploy checks read settings; no server to reach here (and the owner's URL must name
    # the same database as DATABASE_URL, so it goes too).
    env.pop("DATABASE_URL", None)
    env.pop("OPSCORE_MIGRATION_DATABASE_URL", None)

    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env, tmp_path=tmp_path)

    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert WARNING_ID.findall(output) == [], output
    assert "no issues" in output


def test_the_deploy_check_still_warns_without_the_https_settings(tmp_path):
    """The deploy check above can fail: drop the HTTPS variables and the warnings are back."""
    env = {
        name: value
        for name, value in readme_production_environment().items()
        if not name.startswith(("OPSCORE_SECURE_", "OPSCORE_SESSION_", "OPSCORE_CSRF_COOKIE"))
    }
    env["OPSCORE_SECRET_KEY"] = secrets.token_urlsafe(50)
    env["OPSCORE_AUDIT_KEYS"] = audit_keys()
    env.pop("DATABASE_URL", None)
    env.pop("OPSCORE_MIGRATION_DATABASE_URL", None)

    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env, tmp_path=tmp_path)

    output = result.stdout + result.stderr
    assert result.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in output, output


@pytest.mark.parametrize(
    "secret_key",
    [None, "", PUBLIC_KEY, "short-but-mine", "a" * 60],
    ids=["missing", "empty", "public-default", "short", "one-character"],
)
def test_with_debug_off_a_missing_public_or_weak_key_refuses_to_start(tmp_path, secret_key):
    env = {} if secret_key is None else {"OPSCORE_SECRET_KEY": secret_key}

    result = manage("check", env=env, tmp_path=tmp_path)

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "OPSCORE_SECRET_KEY is missing, the public development key, or weak" in result.stderr


@pytest.mark.parametrize(
    ("audit_env", "message"),
    [
        ({}, "OPSCORE_AUDIT_KEYS (or OPSCORE_AUDIT_KEY_FILE) is missing"),
        ({"OPSCORE_AUDIT_KEYS": "a1:c2hvcnQ="}, "OPSCORE_AUDIT_KEYS: key 'a1' has 5 bytes"),
        ({"OPSCORE_AUDIT_KEY_FILE": "/nonexistent/audit-keys"}, "cannot read"),
    ],
    ids=["missing", "short", "unreadable-file"],
)
def test_with_debug_off_a_missing_or_bad_audit_key_refuses_to_start(tmp_path, audit_env, message):
    """A development key derived from SECRET_KEY would sit in the same place as the data."""
    env = {"OPSCORE_SECRET_KEY": secrets.token_urlsafe(50), **audit_env}

    result = manage("check", env=env, tmp_path=tmp_path)

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert message in result.stderr


def test_debug_is_off_unless_asked_for(tmp_path):
    key = secrets.token_urlsafe(50)
    show = ["shell", "-c", "from django.conf import settings; print('DEBUG', settings.DEBUG)"]

    default = manage(
        *show,
        env={"OPSCORE_SECRET_KEY": key, "OPSCORE_AUDIT_KEYS": audit_keys()},
        tmp_path=tmp_path,
    )
    asked = manage(*show, env={"OPSCORE_DEBUG": "1"}, tmp_path=tmp_path)

    assert default.returncode == 0, default.stderr
    assert "DEBUG False" in default.stdout
    # A developer who turns DEBUG on may keep the public key.
    assert asked.returncode == 0, asked.stderr
    assert "DEBUG True" in asked.stdout


def test_a_half_set_proxy_ssl_header_is_refused(tmp_path):
    env = {
        "OPSCORE_SECRET_KEY": secrets.token_urlsafe(50),
        "OPSCORE_AUDIT_KEYS": audit_keys(),
        "OPSCORE_SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO",
    }

    result = manage("check", env=env, tmp_path=tmp_path)

    assert result.returncode != 0
    assert "OPSCORE_SECURE_PROXY_SSL_HEADER is HEADER,VALUE" in result.stderr


@pytest.mark.django_db
def test_a_new_api_key_shown_once_never_travels_in_a_cookie(client):
    """The key is shown through a message; messages live in the session, server side."""
    operator = user_with_perms(
        "integrations.add_apikey", "integrations.view_apikey", "integrations.view_integration"
    )
    shop = Integration.objects.create(name="shop")
    client.force_login(operator)

    response = client.post(
        reverse("admin:integrations_apikey_add"),
        {"integration": shop.pk, "name": "shop-prod", "scopes": ["events:write"]},
    )

    assert response.status_code == 302, response.content[:2000]
    assert ApiKey.objects.filter(integration=shop).count() == 1
    # Django's cookie storage would set a "messages" cookie: signed, readable by anyone who
    # sees the response or the browser's cookie jar.
    assert "messages" not in response.cookies
    shown = client.get(response["Location"])
    warnings = [str(m) for m in shown.context["messages"] if m.level == constants.WARNING]
    assert len(warnings) == 1
    assert "opk_" in warnings[0]
    assert "messages" not in shown.cookies


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            {"OPSCORE_AUDIT_ANCHOR_URL": "https://anchors.example.com/in"},
            "OPSCORE_AUDIT_ANCHOR_SECRET must be the endpoint's signing secret",
        ),
        (
            {
                "DATABASE_URL": "postgres://opscore_app@db.internal:5432/opscore",
                "OPSCORE_MIGRATION_DATABASE_URL": "postgres://opscore_owner@db.internal:5432/other",
            },
            "OPSCORE_MIGRATION_DATABASE_URL must be a postgres:// URL naming the same database",
        ),
    ],
    ids=["anchor-url-without-secret", "owner-url-for-another-database"],
)
def test_a_half_configured_anchor_endpoint_or_owner_role_is_refused(tmp_path, extra, message):
    env = {"OPSCORE_SECRET_KEY": secrets.token_urlsafe(50), "OPSCORE_AUDIT_KEYS": audit_keys()}

    result = manage("check", env={**env, **extra}, tmp_path=tmp_path)

    assert result.returncode != 0
    assert message in result.stderr
