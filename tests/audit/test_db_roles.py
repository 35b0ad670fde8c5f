"""Least privilege on PostgreSQL, set up as the README says, then attacked.

A database of its own per module: `setup_db_roles` creates an owner and a runtime role with
names unique to the run, `migrate` runs as the owner (OPSCORE_MIGRATION_DATABASE_URL), the
application (`seed_demo`, `verify_audit`) as the runtime role (DATABASE_URL). Each test works
on a copy of it (CREATE DATABASE ... TEMPLATE). The roles are dropped afterwards.

The runtime role cannot lift the log's guards; the owner can, and what the owner does with
them (re-chain from row k, truncate the tail) is caught by verify_audit.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.db import connection
from psycopg import errors, sql

from audit.anchors import Checkpoint, append_line
from audit.hashing import GENESIS_HASH, event_hash

pytestmark = pytest.mark.postgres

BASE_DIR = Path(settings.BASE_DIR)
HASHED = (
    "seq",
    "occurred_at",
    "recorded_at",
    "type",
    "instance_type_id",
    "instance_id",
    "actor_kind",
    "actor_ref",
    "payload",
    "prev_hash",
    "key_id",
)


@dataclass
class RolesDatabase:
    template: str
    owner: str
    runtime: str
    admin: dict[str, object]

    def url(self, role: str, name: str) -> str:
        return f"postgres://{role}@{self.admin['host']}:{self.admin['port']}/{name}"

    def connect(self, role: str, name: str) -> psycopg.Connection:
        return psycopg.connect(**{**self.admin, "user": role, "dbname": name}, autocommit=True)


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _checked(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture(scope="module")
def roles_database() -> Iterator[RolesDatabase]:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: roles, ownership and grants")
    settings_dict = connection.settings_dict
    admin_params = {
        "host": settings_dict["HOST"] or "127.0.0.1",
        "port": settings_dict["PORT"] or 5432,
        "user": settings_dict["USER"],
        "password": settings_dict.get("PASSWORD") or None,
    }
    suffix = secrets.token_hex(4)
    database = RolesDatabase(
        template=f"test_opscore_roles_{suffix}",
        owner=f"opscore_test_owner_{suffix}",
        runtime=f"opscore_test_app_{suffix}",
        admin=admin_params,
    )
    admin = psycopg.connect(**admin_params, dbname="postgres", autocommit=True)
    admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database.template)))
    try:
        admin_url = database.url(admin_params["user"], database.template)
        _checked(
            _manage(
                "setup_db_roles",
                "--owner",
                database.owner,
                "--runtime",
                database.runtime,
                env={"DATABASE_URL": admin_url},
            )
        )
        app_env = {
            "DATABASE_URL": database.url(database.runtime, database.template),
            "OPSCORE_MIGRATION_DATABASE_URL": database.url(database.owner, database.template),
        }
        _checked(_manage("migrate", "--verbosity", "0", env=app_env))
        _checked(_manage("createcachetable", env=app_env))
        # The application's own work, as the runtime role: users, orders, events.
        _checked(_manage("seed_demo", "--password", "roles-test", env=app_env))
        yield database
    finally:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(database.template)
            )
        )
        for role in (database.owner, database.runtime):
            admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
        admin.close()


@pytest.fixture
def copy(roles_database) -> Iterator[str]:
    """A fresh copy of the module's database, dropped after the test."""
    name = f"{roles_database.template}_{secrets.token_hex(3)}"
    admin = psycopg.connect(**roles_database.admin, dbname="postgres", autocommit=True)
    admin.execute(
        sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(name), sql.Identifier(roles_database.template)
        )
    )
    try:
        yield name
    finally:
        admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.close()


def _verify(roles_database: RolesDatabase, name: str, *args: str, anchors: Path):
    """verify_audit as the runtime role, reading the test's own checkpoint directory."""
    env = {
        "DATABASE_URL": roles_database.url(roles_database.runtime, name),
        "OPSCORE_AUDIT_ANCHOR_DIR": str(anchors),
    }
    return _manage("verify_audit", "--quiet", *args, env=env)


def _triggers_enabled(conn: psycopg.Connection) -> dict[str, str]:
    rows = conn.execute(
        "SELECT tgname, tgenabled FROM pg_trigger "
        "WHERE tgrelid = 'audit_event'::regclass AND NOT tgisinternal"
    ).fetchall()
    return dict(rows)


REFUSED_TO_RUNTIME = [
    ("ALTER TABLE audit_event DISABLE TRIGGER ALL", "must be owner"),
    ("ALTER TABLE audit_event DISABLE TRIGGER USER", "must be owner"),
    ("ALTER TABLE audit_event DISABLE TRIGGER audit_event_no_update", "must be owner"),
    ("DROP TRIGGER audit_event_no_update ON audit_event", "must be owner"),
    ("DROP FUNCTION audit_event_refuse_change() CASCADE", "must be owner"),
    ("DROP TABLE audit_event", "must be owner"),
    ("ALTER TABLE audit_event RENAME TO audit_event_old", "must be owner"),
    ("UPDATE audit_event SET actor_ref = 'mallory' WHERE seq = 1", "permission denied"),
    ("DELETE FROM audit_event WHERE seq > 1", "permission denied"),
    ("TRUNCATE audit_event", "permission denied"),
    ("DELETE FROM audit_chain_head", "permission denied"),
    ("ALTER TABLE processes_order DISABLE TRIGGER ALL", "must be owner"),
    ("CREATE TABLE shadow_event (seq bigint)", "permission denied for schema public"),
]


def test_the_runtime_role_cannot_alter_disable_or_drop_triggers_or_tables(
    roles_database, copy, audit_anchor_dir
):
    runtime = roles_database.connect(roles_database.runtime, copy)
    before = runtime.execute("SELECT count(*), max(hash) FROM audit_event").fetchone()
    triggers = _triggers_enabled(runtime)
    assert set(triggers) == {
        "audit_event_no_update",
        "audit_event_no_delete",
        "audit_event_no_truncate",
    }

    refused = []
    for statement, message in REFUSED_TO_RUNTIME:
        with pytest.raises(errors.InsufficientPrivilege, match=message):
            runtime.execute(statement)
        refused.append(statement)

    assert len(refused) == len(REFUSED_TO_RUNTIME)
    assert runtime.execute("SELECT count(*), max(hash) FROM audit_event").fetchone() == before
    assert _triggers_enabled(runtime) == triggers
    assert set(triggers.values()) == {"O"}
    assert runtime.execute("SELECT current_user").fetchone()[0] == roles_database.runtime
    runtime.close()
    assert before[0] > 0
    _checked(_verify(roles_database, copy, anchors=audit_anchor_dir))


def _rechain_as_owner(conn: psycopg.Connection, *, k: int, key_id: str, key: bytes | None) -> None:
    """Issue 15's attack: guards off, row k's actor rewritten, every later hash and the head."""
    # ALL would include the foreign keys' system triggers, which only a superuser may disable.
    conn.execute("ALTER TABLE audit_event DISABLE TRIGGER USER")
    with conn.transaction():
        prev = conn.execute("SELECT hash FROM audit_event WHERE seq = %s", [k - 1]).fetchone()
        prev_hash = prev[0] if prev else GENESIS_HASH
        select = sql.SQL("SELECT {} FROM audit_event WHERE seq >= %s ORDER BY seq").format(
            sql.SQL(", ").join(map(sql.Identifier, HASHED))
        )
        rows = conn.execute(select, [k]).fetchall()
        for values in rows:
            row = dict(zip(HASHED, values, strict=True))
            if row["seq"] == k:
                row["actor_ref"] = "mallory"
            row["prev_hash"] = prev_hash
            row["key_id"] = key_id
            prev_hash = event_hash(**row, key=key)
            conn.execute(
                "UPDATE audit_event SET actor_ref = %s, prev_hash = %s, key_id = %s, hash = %s "
                "WHERE seq = %s",
                [row["actor_ref"], row["prev_hash"], key_id, prev_hash, row["seq"]],
            )
        conn.execute(
            "UPDATE audit_chain_head SET last_seq = %s, last_hash = %s WHERE id = 1",
            [rows[-1][0], prev_hash],
        )
    conn.execute("ALTER TABLE audit_event ENABLE TRIGGER USER")


@pytest.mark.parametrize(
    ("key_id", "wrong_key", "reason"),
    [
        ("", False, "unkeyed event after keyed ones"),
        ("test-run", True, "content does not match its hash"),
    ],
    ids=["public-unkeyed-algorithm", "wrong-key"],
)
def test_the_owner_rechaining_from_row_k_is_caught_naming_k(
    roles_database, copy, audit_anchor_dir, key_id, wrong_key, reason
):
    owner = roles_database.connect(roles_database.owner, copy)
    last = owner.execute("SELECT max(seq) FROM audit_event").fetchone()[0]
    k = last // 2

    _rechain_as_owner(owner, k=k, key_id=key_id, key=secrets.token_bytes(32) if wrong_key else None)

    # The forgery is consistent with itself: the head follows the rewritten tail.
    head = owner.execute("SELECT last_seq, last_hash FROM audit_chain_head").fetchone()
    assert (
        head == owner.execute("SELECT seq, hash FROM audit_event WHERE seq = %s", [last]).fetchone()
    )
    assert owner.execute("SELECT actor_ref FROM audit_event WHERE seq = %s", [k]).fetchone() == (
        "mallory",
    )
    owner.close()
    result = _verify(roles_database, copy, anchors=audit_anchor_dir)
    assert result.returncode == 1
    assert f"audit chain broken at sequence {k}: " in result.stderr
    assert reason in result.stderr


def test_the_owner_truncating_the_last_events_is_caught_by_the_checkpoint(
    roles_database, copy, audit_anchor_dir
):
    owner = roles_database.connect(roles_database.owner, copy)
    seq, last_hash = owner.execute("SELECT seq, hash FROM audit_event ORDER BY seq DESC").fetchone()
    key_id, key = next(iter(settings.OPSCORE_AUDIT_KEYS.items()))
    anchors = audit_anchor_dir
    append_line(
        Checkpoint(seq=seq, hash=last_hash, at="2026-11-29T08:00:00+00:00", key_id=key_id), key=key
    )
    _checked(_verify(roles_database, copy, anchors=anchors))
    n = 3
    keep_hash = owner.execute("SELECT hash FROM audit_event WHERE seq = %s", [seq - n]).fetchone()[
        0
    ]

    owner.execute("ALTER TABLE audit_event DISABLE TRIGGER USER")
    owner.execute("DELETE FROM audit_event WHERE seq > %s", [seq - n])
    owner.execute("UPDATE audit_chain_head SET last_seq = %s, last_hash = %s", [seq - n, keep_hash])
    owner.execute("ALTER TABLE audit_event ENABLE TRIGGER USER")
    owner.close()

    for args in ((), ("--from-anchor",)):
        result = _verify(roles_database, copy, *args, anchors=anchors)
        assert result.returncode == 1, result.stdout
        assert f"broken at sequence {seq - n + 1}: " in result.stderr
        assert "tail truncated" in result.stderr
    assert json.loads((anchors / "checkpoints.jsonl").read_text())["seq"] == seq
