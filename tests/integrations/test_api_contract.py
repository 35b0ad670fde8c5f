"""schemathesis against the generated OpenAPI schema, over real HTTP to gunicorn on loopback.

Bounded: a fixed number of examples per operation and a time budget. The run fails on any 5xx,
an undocumented status code or content type, or a response that violates its schema.
"""

import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from tests.factories import api_key, start_order

ARTIFACTS = Path(settings.BASE_DIR) / "artifacts"

CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
    ]
)


@pytest.fixture
def unthrottled(monkeypatch):
    """Rates far above the run's: the contract is about shapes, not about being throttled.

    The 429 every operation documents is covered by tests/security/test_throttling.py.
    """
    monkeypatch.setenv("OPSCORE_THROTTLE_KEY", "100000/min")
    monkeypatch.setenv("OPSCORE_THROTTLE_ANON", "100000/min")


@pytest.mark.postgres
@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="the schema and the views do not depend on the backend: one contract run per CI",
)
def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    unthrottled, gunicorn_url, tmp_path
):
    key = api_key()
    start_order()  # something for the read endpoints to return
    st = Path(sys.executable).with_name("st")
    result = subprocess.run(
        [
            str(st),
            "run",
            f"{gunicorn_url}/api/v1/schema/",
            "--checks",
            CHECKS,
            "--max-examples",
            "40",
            "--max-time",
            "75",
            "--phases",
            "examples,coverage,fuzzing",
            "--header",
            f"Authorization: Api-Key {key}",
            "--seed",
            "1",
            "--workers",
            "2",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        cwd=tmp_path,
    )
    report = ARTIFACTS / f"schemathesis-{connection.vendor}.txt"
    report.parent.mkdir(exist_ok=True)
    report.write_text(result.stdout + result.stderr)
    # The failures come first in schemathesis' report; the whole of it is in the artifact.
    assert result.returncode == 0, f"{result.stdout[:6000]}\n(full report: {report})"
