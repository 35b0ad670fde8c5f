"""The jobs' former dotted paths (`workflows.tasks.<name>`), kept importable: django-q2 rows
queued before the jobs moved to `workflows.jobs` name them, and must still run."""

from workflows.jobs import run_execution, sweep

__all__ = [
    "run_execution",
    "sweep",
]
