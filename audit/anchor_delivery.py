"""Sending the chain's checkpoints to an outbound anchor endpoint, each exactly once.

The checkpoint file (audit/anchors.py) is the outbox: a cursor beside it, `delivered.json`,
holds the byte offset up to which its lines have been accepted by `OPSCORE_AUDIT_ANCHOR_URL`.
A run POSTs every line after the cursor, oldest first, and moves the cursor past each one the
endpoint accepts (2xx); a timeout, a refused connection, 429 or 5xx is retried with exponential
backoff up to `OPSCORE_AUDIT_ANCHOR_ATTEMPTS` times, after which the run stops and the next one
starts again from that line. A checkpoint is never sent again once accepted, and never skipped.

Each request is signed the Standard Webhooks way (`webhook-id`, `webhook-timestamp`,
`webhook-signature`, HMAC under `OPSCORE_AUDIT_ANCHOR_SECRET`), so the endpoint knows it came
from this installation; `webhook-id` is stable per checkpoint, so an endpoint that saw a retry
of a delivery whose answer was lost can drop it. The body is the checkpoint line itself, its
own MAC included (checkable only with the audit key, which the endpoint does not need).
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from django.conf import settings
from standardwebhooks.webhooks import Webhook

from audit.anchors import anchor_path

CURSOR_NAME = "delivered.json"
LOCK_NAME = "delivery.lock"


@dataclass(frozen=True)
class DeliveryReport:
    delivered: list[int]  # sequence numbers of the checkpoints accepted in this run
    pending: int  # checkpoints still waiting after this run
    error: str | None = None  # why the run stopped early

    @property
    def ok(self) -> bool:
        return self.error is None


class _Refused(Exception):
    def __init__(self, message: str, *, retry: bool) -> None:
        super().__init__(message)
        self.retry = retry


def _cursor_path() -> Path:
    return anchor_path().parent / CURSOR_NAME


def _read_offset() -> int:
    try:
        return int(json.loads(_cursor_path().read_text())["offset"])
    except FileNotFoundError:
        return 0


def _write_offset(offset: int, *, seq: int) -> None:
    """Atomically: a crash leaves the old cursor or the new one, never half of one."""
    path = _cursor_path()
    scratch = path.with_suffix(".tmp")
    scratch.write_text(json.dumps({"offset": offset, "seq": seq}))
    with scratch.open("rb") as file:
        os.fsync(file.fileno())
    os.replace(scratch, path)


@contextmanager
def _exclusive() -> Iterator[None]:
    """One delivery run at a time per anchor directory (two workers must not both send)."""
    path = anchor_path().parent / LOCK_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


class CursorBeyondFile(Exception):
    """The file is shorter than what was delivered: it was replaced or cut."""


def _pending_lines(offset: int) -> list[tuple[int, bytes]]:
    """(end offset, line) of every complete line after `offset`."""
    try:
        with anchor_path().open("rb") as file:
            size = file.seek(0, os.SEEK_END)
            if size < offset:
                raise CursorBeyondFile(
                    f"{anchor_path()} has {size} bytes but {offset} were delivered: the file "
                    f"was replaced or cut; nothing is sent until someone looks "
                    f"({_cursor_path()} holds the delivered position)"
                )
            file.seek(offset)
            data = file.read()
    except FileNotFoundError:
        if offset:
            raise CursorBeyondFile(
                f"{anchor_path()} is gone after {offset} bytes were delivered"
            ) from None
        return []
    lines = []
    position = offset
    for raw in data.splitlines(keepends=True):
        if not raw.endswith(b"\n"):
            break  # a line being written right now: the next run sends it
        position += len(raw)
        if raw.strip():
            lines.append((position, raw.strip()))
    return lines


def _post(client: httpx.Client, *, url: str, line: bytes, msg_id: str, secret: str) -> None:
    body = line.decode("utf-8")
    now = datetime.now(tz=UTC)
    headers = {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id=msg_id, timestamp=now, data=body),
        "idempotency-key": msg_id,
    }
    try:
        response = client.post(url, content=body.encode("utf-8"), headers=headers)
    except httpx.TimeoutException:
        raise _Refused("timed out", retry=True) from None
    except httpx.TransportError as exc:
        raise _Refused(f"unreachable ({type(exc).__name__})", retry=True) from None
    if response.is_success:
        return
    retry = response.status_code == 429 or response.status_code >= 500
    raise _Refused(f"answered {response.status_code}", retry=retry)


def deliver_checkpoints(
    *,
    url: str,
    secret: str,
    attempts: int,
    backoff_seconds: float,
    timeout_seconds: float,
) -> DeliveryReport:
    """POST every checkpoint not yet accepted by `url`, oldest first; see the module docstring.

    Never raises for the endpoint's failures: they are the report's `error`, and the
    checkpoints stay pending for the next run.
    """
    delivered: list[int] = []
    with _exclusive(), httpx.Client(timeout=timeout_seconds) as client:
        try:
            pending = _pending_lines(_read_offset())
        except CursorBeyondFile as exc:
            return DeliveryReport([], 0, str(exc))
        for index, (end, line) in enumerate(pending):
            checkpoint = json.loads(line)
            seq = int(checkpoint["seq"])
            msg_id = f"audit-checkpoint-{seq}-{str(checkpoint['mac'])[:16]}"
            for attempt in range(1, attempts + 1):
                try:
                    _post(client, url=url, line=line, msg_id=msg_id, secret=secret)
                    break
                except _Refused as refused:
                    if not refused.retry or attempt == attempts:
                        return DeliveryReport(
                            delivered,
                            len(pending) - index,
                            f"checkpoint #{seq}: {url} {refused} (attempt {attempt} of "
                            f"{attempts}); it is sent again on the next run",
                        )
                    time.sleep(backoff_seconds * 2 ** (attempt - 1))
            _write_offset(end, seq=seq)
            delivered.append(seq)
    return DeliveryReport(delivered, 0)


def deliver_to_configured_endpoint() -> DeliveryReport | None:
    """Deliver with the settings' endpoint; None when no endpoint is configured."""
    if not settings.OPSCORE_AUDIT_ANCHOR_URL:
        return None
    return deliver_checkpoints(
        url=settings.OPSCORE_AUDIT_ANCHOR_URL,
        secret=settings.OPSCORE_AUDIT_ANCHOR_SECRET,
        attempts=settings.OPSCORE_AUDIT_ANCHOR_ATTEMPTS,
        backoff_seconds=settings.OPSCORE_AUDIT_ANCHOR_BACKOFF_SECONDS,
        timeout_seconds=settings.OPSCORE_AUDIT_ANCHOR_TIMEOUT_SECONDS,
    )
