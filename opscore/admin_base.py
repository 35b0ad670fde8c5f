"""Pieces every app's admin shares: records that are looked at, never edited, and JSON shown."""

from __future__ import annotations

import json
from typing import Any

from django.utils.html import format_html


class ReadOnlyAdminMixin:
    """A model admin that shows rows and never adds, changes or deletes them from the admin."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


def json_block(value: Any) -> str:
    """A JSON value as an indented, key-sorted, escaped <pre> block for a read-only field."""
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, sort_keys=True))
