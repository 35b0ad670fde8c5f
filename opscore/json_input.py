"""Strict JSON for input from outside: only what every layer below can hash, store and send.

`json.loads` accepts things the rest of the system cannot carry: lone UTF-16 surrogates
(they break UTF-8 encoding, so the request hash), NUL characters (PostgreSQL text and jsonb
refuse them), `NaN`/`Infinity` and overflowing floats (not JSON; the database refuses them),
integers past Python's 4,300-digit conversion limit, and nesting deep enough to exhaust the
stack. `parse_strict` refuses each with its own stable code and, where it can, a JSON pointer.
`storable` makes text we are about to record (a refusal's excerpt and messages) safe to store.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

MAX_DEPTH = 64
# Python's own limit on int <-> str conversion (sys.int_info.default_max_str_digits):
# a larger integer could be parsed but then neither hashed nor rendered again.
MAX_INT_DIGITS = 4300

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class JSONInputError(ValueError):
    """Input refused before it reaches anything else; `code` is the problem code."""

    def __init__(self, code: str, detail: str, pointer: str | None = None) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.pointer = pointer


def _refuse_constant(name: str) -> Any:
    raise JSONInputError(
        "non_finite_number", f"{name} is not a JSON number: numbers must be finite"
    )


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JSONInputError(
            "non_finite_number",
            f"the number {text[:40]} overflows a 64-bit float: numbers must be finite",
        )
    return value


def _bounded_int(text: str) -> int:
    digits = len(text) - text.startswith("-")
    if digits > MAX_INT_DIGITS:
        raise JSONInputError(
            "integer_too_large",
            f"an integer of {digits} digits: at most {MAX_INT_DIGITS} digits are accepted",
        )
    return int(text)


def parse_strict(body: bytes) -> Any:
    """Parse a UTF-8 JSON body, or raise `JSONInputError` naming what is wrong and where."""
    document = parse_syntax(body)
    check_document(document)
    return document


def parse_syntax(body: bytes) -> Any:
    """`parse_strict` without `check_document`: what no part of the body can be read past
    (bad UTF-8, a NUL byte, bad JSON, NaN or Infinity, a huge integer, runaway nesting) is
    refused; unstorable strings and deep values are left for the caller to check part by
    part (a batch refuses the one event that holds them, not its neighbours)."""
    nul = body.find(b"\x00")
    if nul != -1:
        raise JSONInputError(
            "nul_character", f"the body contains a NUL byte at offset {nul}; JSON text has none"
        )
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise JSONInputError(
            "bad_json", f"the body is not UTF-8 text: {error.reason} at byte {error.start}"
        ) from error
    try:
        document = json.loads(
            text,
            parse_constant=_refuse_constant,
            parse_float=_finite_float,
            parse_int=_bounded_int,
        )
    except RecursionError as error:
        raise _too_deep() from error
    except json.JSONDecodeError as error:
        raise JSONInputError(
            "bad_json",
            f"the body is not valid JSON: {error.msg} at line {error.lineno} column {error.colno}",
        ) from error
    return document


def _too_deep() -> JSONInputError:
    return JSONInputError("nesting_too_deep", f"the JSON nests deeper than {MAX_DEPTH} levels")


def _escape_pointer(part: str) -> str:
    return storable(part).replace("~", "~0").replace("/", "~1")


def check_document(document: Any) -> None:
    """Refuse NUL characters, lone surrogates and excess depth anywhere, keys included.

    Iterative, so a document deep enough to be refused cannot exhaust the stack being checked.
    """
    stack: list[tuple[Any, str, int]] = [(document, "", 0)]
    while stack:
        value, pointer, depth = stack.pop()
        if isinstance(value, str):
            _check_text(value, pointer)
        elif isinstance(value, dict | list):
            if depth >= MAX_DEPTH:
                error = _too_deep()
                error.pointer = pointer
                raise error
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                child = f"{pointer}/{_escape_pointer(str(key))}"
                if isinstance(key, str):
                    _check_text(key, child, what="key")
                stack.append((item, child, depth + 1))


def _check_text(text: str, pointer: str, *, what: str = "string") -> None:
    found = _UNSTORABLE.search(text)
    if found is None:
        return
    where = pointer or "/"
    if found.group() == "\x00":
        raise JSONInputError(
            "nul_character",
            f"{where}: the {what} contains a NUL character (U+0000), which cannot be stored",
            pointer,
        )
    raise JSONInputError(
        "unpaired_surrogate",
        f"{where}: the {what} contains an unpaired UTF-16 surrogate "
        f"(\\u{ord(found.group()):04x}); send well-formed Unicode",
        pointer,
    )


def storable(value: Any) -> Any:
    """`value` with every NUL and lone surrogate in its strings (and keys) replaced by U+FFFD."""
    if isinstance(value, str):
        return _UNSTORABLE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {storable(key): storable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [storable(item) for item in value]
    return value
