"""gunicorn settings for multi-process metrics.

    gunicorn -c python:observability.metrics.gunicorn_conf opscore.wsgi:application


Every worker writes its counters to PROMETHEUS_MULTIPROC_DIR; when one exits, its live gauges
(none today, but prometheus_client's `live*` modes) are dropped so a scrape does not sum a dead
worker. The directory must be emptied before gunicorn starts (a deploy step), or counters
carry over from the previous run.
"""

from prometheus_client import multiprocess


def child_exit(server, worker) -> None:
    multiprocess.mark_process_dead(worker.pid)
