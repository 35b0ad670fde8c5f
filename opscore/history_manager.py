"""django-simple-history builds its history manager class anew on every access; build it once.

`HistoryDescriptor.__get__` calls `manager_class.from_queryset(queryset_class)` each time
`instance.history` (or `Model.history`) is read, and `create_historical_record` reads it on
every save of a tracked model: a new class per save, with its method copying and MRO
building, about two thirds of simple-history's cost per saved instance. The class depends
only on the descriptor's two classes, so it is made once per descriptor and reused; the
manager instance is still new per access, as upstream. Installed from `OpscoreConfig.ready`;
remove it once simple-history caches the class itself.
"""

from __future__ import annotations

from simple_history.manager import HistoryDescriptor


def _cached_get(self: HistoryDescriptor, instance, owner):
    manager_class = self.__dict__.get("_opscore_manager_class")
    if manager_class is None:
        manager_class = self.manager_class.from_queryset(self.queryset_class)
        self._opscore_manager_class = manager_class
    return manager_class(self.model, instance)


def cache_manager_classes() -> None:
    """Make every HistoryDescriptor reuse one manager class (idempotent)."""
    HistoryDescriptor.__get__ = _cached_get
