"""The jobs' former dotted paths (`approvals.tasks.<name>`), kept importable: django-q2 rows
queued before the jobs moved to `approvals.jobs` name them, and must still run."""

from approvals.jobs import sweep_review_deadlines

__all__ = [
    "sweep_review_deadlines",
]
