"""The engine's jobs django-q2 runs: thin wrappers that call one service each."""

from workflows import services


def run_execution(execution_id: int) -> str:
    return services.run_execution(execution_id=execution_id).status


def sweep() -> dict[str, int]:
    report = services.sweep_due_work()
    return {
        "retries_enqueued": report.retries_enqueued,
        "leases_recovered": report.leases_recovered,
        "timers_fired": report.timers_fired,
    }
