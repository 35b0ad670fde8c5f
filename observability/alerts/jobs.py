"""The alerts' jobs django-q2 runs (schedules `opscore.alerts` and
`opscore.consistency_checks`, created by observability's migrations)."""

from observability.alerts import checks, services


def evaluate_alerts() -> str:
    return str(services.evaluate_alert_rules())


def run_consistency_checks() -> str:
    runs = checks.run_consistency_checks()
    return "; ".join(f"{run.name} {'ok' if run.ok else 'FAILED'}" for run in runs)
