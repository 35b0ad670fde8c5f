"""The API's one paginator: newest first, by cursor."""

from __future__ import annotations

from rest_framework.pagination import CursorPagination


class NewestFirst(CursorPagination):
    """Newest first by the view's `newest_first_by` field (`created_at` unless it says), then
    by id so rows of the same moment keep one order: a cursor stays valid while rows arrive."""

    page_size = 50

    def get_ordering(self, request, queryset, view) -> tuple[str, str]:
        return (f"-{getattr(view, 'newest_first_by', 'created_at')}", "-id")
