"""The RQ worker Beacon runs with TASKS_BACKEND=rq (settings.RQ["WORKER_CLASS"]): each job in the
worker's own process, its connections kept from one job to the next.

RQ's default worker forks a work horse for every job, and each horse opens its own database and
SMTP connections: on a busy two-core machine that made a notification take about 0.25 s, most of
it connecting, and 500 of them took minutes. Beacon's tasks are short and bounded (EMAIL_TIMEOUT,
the HTTP timeouts, and RQ's job timeout still applies here, by SIGALRM), and they carry their own
guarantees: a task re-reads its row and claims it, and a row whose worker was killed comes back
after its lease (incidents/notifications/delivery.py). A fork's isolation buys them nothing.

Database connections are treated as a web request treats them: before and after each job, one
that is broken or older than CONN_MAX_AGE is closed, so a database restart costs one failed job
at most, not every job after it.
"""

from django.db import close_old_connections
from rq.worker import SimpleWorker


class Worker(SimpleWorker):
    def execute_job(self, job, queue):
        close_old_connections()
        try:
            return super().execute_job(job, queue)
        finally:
            close_old_connections()
