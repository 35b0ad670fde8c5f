"""The jobs' former dotted paths (`integrations.tasks.<name>`), kept importable: django-q2 rows
queued before the jobs moved to `integrations.jobs` name them, and must still run."""

from integrations.jobs import fire_schedule, purge_rejections

__all__ = [
    "fire_schedule",
    "purge_rejections",
]
