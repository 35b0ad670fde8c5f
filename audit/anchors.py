"""Checkpoints of the chain kept outside the database: an append-only file of signed lines.

Each line is `{"seq", "hash", "at", "key_id", "mac"}`: the chain's last sequence number and
hash when it was written, and an HMAC of those under the audit key. Whoever rewrites the
database (history re-chained, tail truncated, head moved back) cannot make it agree with a
checkpoint written before, and cannot write a new checkpoint without the key. The file lives in
`OPSCORE_AUDIT_ANCHOR_DIR`; point it at storage the database's owner cannot write (another
host's mount, an append-only volume) for the anchor to hold against them.
"""

from __future__ import annotations

import hmac
import json
import os
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from audit.keys import verification_keys

FILE_NAME = "checkpoints.jsonl"
# A line is ~250 bytes; the tail read covers the last one with room to spare.
_TAIL_BYTES = 8192


class AnchorError(Exception):
    """The checkpoint file exists but its last line cannot be trusted."""


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    hash: str
    at: str
    key_id: str

    def mac(self, key: bytes) -> str:
        return checkpoint_mac(seq=self.seq, hash=self.hash, at=self.at, key_id=self.key_id, key=key)


def anchor_path() -> Path:
    return Path(settings.OPSCORE_AUDIT_ANCHOR_DIR) / FILE_NAME


def _signed_body(*, seq: int, hash: str, at: str, key_id: str) -> bytes:
    body = {"seq": seq, "hash": hash, "at": at, "key_id": key_id}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")


def checkpoint_mac(*, seq: int, hash: str, at: str, key_id: str, key: bytes) -> str:
    return hmac.digest(key, _signed_body(seq=seq, hash=hash, at=at, key_id=key_id), "sha256").hex()


def append_line(checkpoint: Checkpoint, *, key: bytes) -> None:
    """Append one signed line and fsync it; O_APPEND never overwrites what is there."""
    mac = checkpoint.mac(key)
    line = json.dumps(
        {
            "seq": checkpoint.seq,
            "hash": checkpoint.hash,
            "at": checkpoint.at,
            "key_id": checkpoint.key_id,
            "mac": mac,
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    path = anchor_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(fd, (line + "\n").encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)


def latest_checkpoint(*, path: Path | None = None) -> Checkpoint | None:
    """The file's last checkpoint, its MAC checked; None if none was written yet."""
    path = path or anchor_path()
    try:
        with path.open("rb") as file:
            file.seek(0, os.SEEK_END)
            file.seek(max(file.tell() - _TAIL_BYTES, 0))
            tail = file.read()
    except FileNotFoundError:
        return None
    lines = [line for line in tail.splitlines() if line.strip()]
    if not lines:
        return None
    return _checked(lines[-1], path=path, what="the last checkpoint")


def checkpoint_at(*, seq: int, path: Path | None = None) -> Checkpoint | None:
    """The checkpoint written at sequence number `seq`, its MAC checked; None if there is none.

    Reads the whole file (a line per 10 minutes at most: a year is a few megabytes).
    """
    path = path or anchor_path()
    try:
        with path.open("rb") as file:
            for line in file:
                if line.strip() and json.loads(line).get("seq") == seq:
                    return _checked(line, path=path, what=f"the checkpoint at #{seq}")
    except FileNotFoundError:
        return None
    except ValueError as exc:
        raise AnchorError(f"{path} holds a line that is not a checkpoint ({exc})") from None
    return None


def _checked(line: bytes, *, path: Path, what: str) -> Checkpoint:
    try:
        raw = json.loads(line)
        checkpoint = Checkpoint(
            seq=int(raw["seq"]), hash=str(raw["hash"]), at=str(raw["at"]), key_id=str(raw["key_id"])
        )
        mac = str(raw["mac"])
    except (ValueError, KeyError, TypeError) as exc:
        raise AnchorError(f"{what} in {path} is not a checkpoint ({exc})") from None
    key = verification_keys().get(checkpoint.key_id)
    if key is None:
        raise AnchorError(
            f"{what} in {path} is signed with audit key {checkpoint.key_id!r}, "
            "which is not configured"
        )
    expected = checkpoint.mac(key)
    if not hmac.compare_digest(expected, mac):
        raise AnchorError(f"{what} in {path} has a wrong MAC (forged or altered)")
    return checkpoint
