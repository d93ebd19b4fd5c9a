"""gunicorn's settings for Beacon (Dockerfile and docker-compose.yml: `gunicorn -c deploy/gunicorn.conf.py`).

The number of workers comes from the command line (`--workers`) or WEB_CONCURRENCY, as
gunicorn reads them. Each worker is its own process with its own request counters, so with
more than one, /metrics needs PROMETHEUS_MULTIPROC_DIR (an empty directory the workers share,
incidents/api/metrics.py): without it every scrape shows one worker's counters, and Prometheus
sees a counter reset at nearly every scrape. Start-up warns then; it does not refuse.
"""

import os

MULTIPROC_WARNING = (
    "%d workers but PROMETHEUS_MULTIPROC_DIR is not set: /metrics will show one worker's request "
    "counters per scrape. Set it to an empty directory the workers share (see docker-compose.yml)."
)


def on_starting(server):
    """In the master, before any worker starts: warn about per-worker metrics."""
    if server.cfg.workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        server.log.warning(MULTIPROC_WARNING, server.cfg.workers)


def child_exit(server, worker):
    """A worker that exits leaves its counters behind (still summed); its live gauges go with it."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
