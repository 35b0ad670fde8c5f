"""Walk two streams sorted by the same key side by side, holding one key's rows at a time."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

Left = TypeVar("Left")
Right = TypeVar("Right")

_END = object()


def merge_join(
    left: Iterable[Left],
    right: Iterable[Right],
    *,
    left_key: Callable[[Left], Any],
    right_key: Callable[[Right], Any],
) -> Iterator[tuple[Any, Left | None, Right | None]]:
    """A full outer join of two iterables, each sorted by its key and unique in it.

    Yields (key, left item or None, right item or None) in key order, so a comparison of a
    log's replay with a table reads both once and keeps nothing behind it.
    """
    lefts, rights = iter(left), iter(right)
    a, b = next(lefts, _END), next(rights, _END)
    while a is not _END or b is not _END:
        if b is _END or (a is not _END and left_key(a) < right_key(b)):
            yield left_key(a), a, None
            a = next(lefts, _END)
        elif a is _END or right_key(b) < left_key(a):
            yield right_key(b), None, b
            b = next(rights, _END)
        else:
            yield left_key(a), a, b
            a, b = next(lefts, _END), next(rights, _END)
