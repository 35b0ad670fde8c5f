"""The environment a test run starts in; loaded by pytest (`-p`, pyproject) before Django.

Settings refuse a missing secret key outside DEBUG, and the suite runs as production does,
with DEBUG off. A root conftest.py would come too late: pytest-django imports the settings
before it reads any conftest. The key is random per run and reaches every subprocess the
tests start (gunicorn, qcluster, manage.py) through the inherited environment.
"""

import base64
import os
import secrets
import tempfile

os.environ.setdefault("OPSCORE_SECRET_KEY", f"opscore-test-run-{secrets.token_urlsafe(48)}")
# The audit chain's signing key, likewise required with DEBUG off; random per run too.
os.environ.setdefault(
    "OPSCORE_AUDIT_KEYS", f"test-run:{base64.b64encode(secrets.token_bytes(32)).decode()}"
)
# Checkpoints written by worker subprocesses of this run stay out of the developer's var/.
os.environ.setdefault("OPSCORE_AUDIT_ANCHOR_DIR", tempfile.mkdtemp(prefix="opscore-anchors-"))
