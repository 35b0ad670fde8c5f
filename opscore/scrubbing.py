"""Text that came from outside (remote error bodies) or from a person (reasons) made fit to
record: secrets replaced by a marker, and the whole bounded in length.

It runs before such text reaches a row or the event log, because the log cannot be edited
afterwards: whatever it records stays. The patterns cover what opscore itself handles
(its API keys `opk_<prefix>_<secret>`, Standard Webhooks secrets `whsec_...`, Authorization
headers, passwords in URLs, `password=`/`token=`-style fields); they reduce, not remove, the
risk of free text carrying a secret nobody announced.
"""

from __future__ import annotations

import re

REDACTED = "[redacted]"
# How much recorded free text (a remote error body, a reason) is kept: enough to diagnose,
# too little to be a store of anything.
RECORDED_TEXT_MAX = 1000
_TRUNCATION_MARK = "… [truncated]"

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # An Authorization header (or a JSON/field named so): its credential, whatever the scheme
    # (Bearer, Basic, Api-Key, or a bare token); the scheme's name stays to read.
    (
        re.compile(
            r"(?i)(\"?(?:proxy-)?authorization\"?\s*[:=]\s*\"?)"
            r"((?:bearer|basic|api-key|token|digest)\s+)?[^\s\",}]+"
        ),
        rf"\1\2{REDACTED}",
    ),
    # A bearer or Api-Key credential anywhere else in the text.
    (re.compile(r"(?i)\b(bearer|api-key|basic)(\s+)[A-Za-z0-9._~+/=\-]{8,}"), rf"\1\2{REDACTED}"),
    # opscore API keys and Standard Webhooks secrets, by their shape.
    (re.compile(r"\bopk_[0-9a-f]{8}_[A-Za-z0-9_\-]{16,}"), REDACTED),
    (re.compile(r"\bwhsec_[A-Za-z0-9+/=_\-]{16,}"), REDACTED),
    # user:password@ in a URL.
    (re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://[^/\s:@]*:)[^@\s/]+@"), rf"\1{REDACTED}@"),
    # password=..., "api_key": "...", token: ... (query strings, JSON, logfmt).
    (
        re.compile(
            r"(?i)(\"?\b(?:password|passwd|pwd|secret|client_secret|api[_-]?key|access[_-]?token"
            r"|refresh[_-]?token|token)\"?\s*[:=]\s*\"?)[^\"&\s,}]+"
        ),
        rf"\1{REDACTED}",
    ),
]


def scrub_secrets(text: str) -> str:
    """`text` with every recognised secret replaced by `[redacted]`."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def bounded(text: str, *, limit: int = RECORDED_TEXT_MAX) -> str:
    """`text` cut to at most `limit` characters, marked when cut."""
    if len(text) <= limit:
        return text
    return text[: max(limit - len(_TRUNCATION_MARK), 0)] + _TRUNCATION_MARK


def recordable(text: object, *, limit: int = RECORDED_TEXT_MAX) -> str:
    """Free text as it may be recorded: secrets scrubbed first (so a cut cannot leave half a
    secret unrecognised), then bounded to `limit` characters."""
    return bounded(scrub_secrets(str(text)), limit=limit)
