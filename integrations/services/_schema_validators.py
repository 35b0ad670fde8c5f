"""The compiled validators of the envelope's and each event type's JSON Schema.

jsonschema is the reference: its verdict and its error messages are what callers get. It
interprets the schema anew on every call, which was a tenth of a batched event's CPU, so a
schema written in the plain subset below also gets a jsonschema_rs validator, asked first:
when it accepts a document jsonschema would too, and the reference is skipped. Whatever it
refuses, or cannot read, goes to the reference, which finds the errors or accepts it.

That holds because jsonschema_rs is at least as strict as jsonschema on each keyword of the
subset (tests/integrations/test_payload_schemas.py holds the tricky cases: bool against
number, integer-valued floats, integers beyond 64 bits, lengths in code points), and because
`pattern` and `format` are handed jsonschema's own checks (Python's `re.search`, the
FormatChecker): jsonschema_rs's regex dialect and its formats (a `date` of year 0) differ.
Anything outside the subset (`multipleOf` rounds differently; `not` and `oneOf` would turn a
stricter check into a looser one; `$ref`) is checked by jsonschema alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import partial
from typing import Any

import jsonschema_rs
from jsonschema import Draft202012Validator

DRAFT = "https://json-schema.org/draft/2020-12/schema"
FORMAT_CHECKER = Draft202012Validator.FORMAT_CHECKER

_ANNOTATIONS = frozenset(
    {"title", "description", "$comment", "default", "examples", "deprecated", "readOnly"}
    | {"writeOnly"}
)
_ASSERTIONS = frozenset(
    {"type", "enum", "const", "required", "pattern", "format"}
    | {"minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties"}
    | {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}
)
_SUBSCHEMA = frozenset({"additionalProperties", "items"})


def _plain(schema: Any, formats: set[str]) -> bool:
    """Whether `schema` uses only the subset both libraries read alike; collects its formats."""
    if isinstance(schema, bool):
        return True
    if not isinstance(schema, dict):
        return False
    for keyword, value in schema.items():
        if keyword in _ANNOTATIONS or keyword.startswith("x-"):
            continue
        if keyword == "$schema":
            if value != DRAFT:
                return False
        elif keyword in _ASSERTIONS:
            if keyword == "format":
                if not isinstance(value, str):
                    return False
                formats.add(value)
        elif keyword in _SUBSCHEMA:
            if not _plain(value, formats):
                return False
        elif keyword == "properties":
            if not isinstance(value, dict) or not all(_plain(v, formats) for v in value.values()):
                return False
        elif keyword == "prefixItems":
            if not isinstance(value, list) or not all(_plain(v, formats) for v in value):
                return False
        else:
            return False
    return True


class _PythonPattern:
    """`pattern` as jsonschema reads it: Python's `re.search`, not jsonschema_rs's dialect."""

    def __init__(self, parent_schema: dict[str, Any], value: str, schema_path: list) -> None:
        self.regex = re.compile(value)

    def validate(self, instance: Any) -> None:
        if isinstance(instance, str) and not self.regex.search(instance):
            raise ValueError("does not match")


def _fast(schema: Any) -> jsonschema_rs.Draft202012Validator | None:
    formats: set[str] = set()
    if not _plain(schema, formats):
        return None
    try:
        return jsonschema_rs.Draft202012Validator(
            schema,
            validate_formats=True,
            formats={name: partial(FORMAT_CHECKER.conforms, format=name) for name in formats},
            keywords={"pattern": _PythonPattern},
        )
    except Exception:  # a schema it cannot compile is jsonschema's alone
        return None


@dataclass(frozen=True)
class Compiled:
    schema: Any
    reference: Draft202012Validator
    fast: jsonschema_rs.Draft202012Validator | None

    def accepts(self, value: Any) -> bool:
        """True: `value` is valid. False: ask the reference for its errors (it may find none,
        where jsonschema_rs is the stricter)."""
        if self.fast is None:
            return self.reference.is_valid(value)
        try:
            return self.fast.is_valid(value)
        except Exception:  # e.g. a lone surrogate it cannot convert: the reference decides
            return False


# One entry per schema object, found by identity: serialising the schema on every call to key
# the cache cost as much as validating. The envelope's schema is a constant; an event type's
# is the dict of the one EventType that integrations.lookups shares (read-only) until a write
# to event types (a new schema published) replaces it, so a new schema is a new object. Each
# entry holds its schema, so its id cannot pass to another dict while the entry lives.
_COMPILED: dict[int, Compiled] = {}
_COMPILED_MAX = 256


def compiled(schema: Any) -> Compiled:
    global _COMPILED
    entry = _COMPILED.get(id(schema))
    if entry is not None and entry.schema is schema:
        return entry
    entry = Compiled(
        schema=schema,
        reference=Draft202012Validator(schema, format_checker=FORMAT_CHECKER),
        fast=_fast(schema),
    )
    if len(_COMPILED) >= _COMPILED_MAX:
        # Replaced, not emptied in place: another thread may be reading the old one.
        _COMPILED = {}
    _COMPILED[id(schema)] = entry
    return entry
