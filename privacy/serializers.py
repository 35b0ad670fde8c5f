"""API responses show personal values revealed while their key exists, "[erased]" after."""

from typing import Any

from rest_framework import serializers

from privacy import sealing


class RevealedJSONField(serializers.JSONField):
    """A stored JSON value (context, payload) with its sealed personal values revealed."""

    def to_representation(self, value: Any) -> Any:
        return super().to_representation(sealing.reveal(value))
