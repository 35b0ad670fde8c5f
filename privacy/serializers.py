"""API responses show personal values revealed while their key exists, "[erased]" after."""

from collections.abc import Iterable
from typing import Any

from django.db.models import Model
from rest_framework import serializers

from privacy import sealing

_REVEALER = "_privacy_revealer"


class RevealedJSONField(serializers.JSONField):
    """A stored JSON value (context, payload) with its sealed personal values revealed.

    One Revealer per response: on a list page the keys of every row's subjects are fetched
    in one query, not one per row.
    """

    def _revealer(self) -> sealing.Revealer:
        context = getattr(self.root, "_context", None)
        revealer = context.get(_REVEALER) if isinstance(context, dict) else None
        if revealer is None:
            revealer = sealing.Revealer()
            rows = self.root.instance
            if isinstance(rows, Iterable) and not isinstance(rows, Model | dict):
                revealer.prefetch(getattr(row, self.source, None) for row in rows)
            if isinstance(context, dict):
                context[_REVEALER] = revealer
        return revealer

    def to_representation(self, value: Any) -> Any:
        return super().to_representation(self._revealer().reveal(value))
