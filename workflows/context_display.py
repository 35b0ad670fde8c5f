"""An instance's context as a business reads it: labelled fields, money with its currency,
weights with their unit, times in the viewer's zone, addresses on their lines.

A concrete process declares what its context holds and how to show it (`Section`s of
`Shown` fields, in its admin); whatever the context holds beyond the declaration is still
shown, under "Other", with labels made from its keys. The raw JSON stays one click away.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.template.loader import render_to_string
from django.utils.safestring import SafeString

from opscore.moments import moment
from privacy import sealing

TEXT, MONEY, WEIGHT, MOMENT, ADDRESS, NUMBER, HIDDEN = (
    "text",
    "money",
    "weight",
    "moment",
    "address",
    "number",
    "hidden",  # declared so that "Other" leaves it out (shown elsewhere on the page)
)
CURRENCY_SYMBOLS = {"EUR": "€", "GBP": "£", "USD": "$", "JPY": "¥", "CHF": "CHF "}
MISSING = object()


@dataclass(frozen=True)
class Shown:
    """One field: where it is in the context (dotted), its label and how to show it.

    Money takes its currency from `currency_path` in the same context, else `currency`;
    `choices` name coded values ("manager_and_finance": "a manager, then a finance director").
    """

    path: str
    label: str
    kind: str = TEXT
    currency: str = ""
    currency_path: str = ""
    unit: str = ""
    choices: tuple[tuple[str, str], ...] = ()
    listed: bool = False  # also a column of the process's list (sortable when a number)


@dataclass(frozen=True)
class Section:
    title: str
    fields: tuple[Shown, ...]


@dataclass(frozen=True)
class Row:
    label: str
    value: str
    personal: bool = False
    multiline: bool = False


@dataclass
class ShownSection:
    title: str
    rows: list[Row] = field(default_factory=list)


def personal_paths(stored: Mapping[str, Any]) -> frozenset[str]:
    """The paths of the context as stored whose values are sealed: those the event type's
    schema marks `x-personal` (privacy.sealing seals them on the way in)."""
    return frozenset(path for path, value in _leaves(stored) if sealing.is_sealed(value))


def _at(context: Mapping[str, Any], path: str) -> Any:
    value: Any = context
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return MISSING
        value = value[part]
    return value


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def money(amount: Any, currency: str) -> str:
    number = _decimal(amount)
    if number is None:
        return str(amount)
    code = (currency or "").upper()
    figure = f"{number:,.2f}"
    symbol = CURRENCY_SYMBOLS.get(code)
    if symbol:
        return f"{'-' if number < 0 else ''}{symbol}{figure.lstrip('-')}"
    return f"{figure} {code}".rstrip()


def _number(value: Any) -> str:
    number = _decimal(value)
    if number is None:
        return str(value)
    if number == number.to_integral_value():
        return f"{number:,.0f}"
    return f"{number.normalize():,f}"


def _moment(value: Any) -> str:
    if isinstance(value, datetime):
        return moment(value)
    try:
        return moment(datetime.fromisoformat(str(value)))
    except ValueError:
        return str(value)


def plain_text(value: Any) -> str:
    """Any value, without Python or JSON punctuation."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float | Decimal):
        return _number(value)
    if isinstance(value, list | tuple):
        return "; ".join(plain_text(item) for item in value) or "none"
    if isinstance(value, Mapping):
        return "; ".join(f"{_label(key)}: {plain_text(item)}" for key, item in value.items())
    return str(value)


def _label(key: str) -> str:
    words = str(key).replace("_", " ").replace(".", " ").strip()
    return words[:1].upper() + words[1:]


def _format(shown: Shown, value: Any, context: Mapping[str, Any]) -> str:
    if value is None or value == "":
        return "—"
    if shown.kind == MONEY:
        currency = shown.currency
        if shown.currency_path:
            found = _at(context, shown.currency_path)
            currency = found if isinstance(found, str) and found else currency
        return money(value, currency)
    if shown.kind == WEIGHT:
        return f"{_number(value)} {shown.unit or 'kg'}"
    if shown.kind == MOMENT:
        return _moment(value)
    if shown.kind == NUMBER:
        return _number(value)
    if shown.choices:
        return dict(shown.choices).get(str(value), plain_text(value))
    return plain_text(value)


def shown_value(shown: Shown, context: Mapping[str, Any]) -> str:
    """One declared field of a (revealed) context, formatted; "—" when it is not there."""
    value = _at(context, shown.path)
    return "—" if value is MISSING else _format(shown, value, context)


def sort_expression(shown: Shown):
    """An expression to sort instances by a numeric field of their context (None otherwise:
    text may be sealed, and sealed values do not sort)."""
    if shown.kind not in (MONEY, WEIGHT, NUMBER):
        return None
    from django.db.models import FloatField
    from django.db.models.fields.json import KT
    from django.db.models.functions import Cast

    return Cast(KT("context__" + shown.path.replace(".", "__")), FloatField())


def business_sections(
    context: Mapping[str, Any],
    sections: Iterable[Section] = (),
    *,
    personal: frozenset[str] = frozenset(),
) -> list[ShownSection]:
    """The declared fields present in `context`, then every other leaf under "Other"."""
    shown: list[ShownSection] = []
    used: set[str] = set()
    for section in sections:
        out = ShownSection(section.title)
        for spec in section.fields:
            used.add(spec.path)
            if spec.currency_path:
                used.add(spec.currency_path)
            value = _at(context, spec.path)
            if value is MISSING or spec.kind == HIDDEN:
                continue
            out.rows.append(
                Row(
                    label=spec.label,
                    value=_format(spec, value, context),
                    personal=spec.path in personal,
                    multiline=spec.kind == ADDRESS,
                )
            )
        if out.rows:
            shown.append(out)
    other = ShownSection("Other")
    for path, value in _leaves(context):
        if path in used or any(path.startswith(f"{prefix}.") for prefix in used):
            continue
        other.rows.append(
            Row(label=_label(path), value=plain_text(value), personal=path in personal)
        )
    if other.rows:
        shown.append(other)
    return shown


def _leaves(value: Any, prefix: str = "") -> Iterable[tuple[str, Any]]:
    if isinstance(value, Mapping) and value:
        for key, item in value.items():
            yield from _leaves(item, f"{prefix}.{key}" if prefix else str(key))
    elif prefix:
        yield prefix, value


def render_business_context(
    stored: Mapping[str, Any], sections: Iterable[Section] = ()
) -> SafeString:
    """The context (as stored: sealed values are revealed here, for this page only) as
    labelled fields, personal ones marked, with the raw JSON behind a <details> toggle."""
    context = sealing.reveal(stored)
    return render_to_string(
        "admin/workflows/business_context.html",
        {
            "sections": business_sections(context, sections, personal=personal_paths(stored)),
            "raw": json.dumps(context, indent=2, sort_keys=True, default=str),
        },
    )
