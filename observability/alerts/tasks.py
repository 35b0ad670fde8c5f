"""The jobs' former dotted paths (`observability.alerts.tasks.<name>`), kept importable:
django-q2 rows queued before the jobs moved to `observability.alerts.jobs` name them, and must
still run."""

from observability.alerts.jobs import evaluate_alerts, run_consistency_checks

__all__ = [
    "evaluate_alerts",
    "run_consistency_checks",
]
