"""Beacon on RQ (TASKS_BACKEND=rq): the task backend and the worker.

The backend is django-tasks-rq's, with one change: a delayed task never runs early. RQ keeps a
scheduled job's time in whole seconds, cut down (rq.registry.ScheduledJobRegistry.schedule), so
a retry due at 12:00:07.9 ran at 12:00:07.0, found its row not due yet and skipped it: the
notification then waited for the sweeper. The time is rounded up to the next whole second
instead: a task runs at most a second late, never early.

The worker (settings.RQ["WORKER_CLASS"]) runs each job in its own process, its connections
kept from one job to the next.

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

import datetime as dt

from django.db import close_old_connections
from django_tasks_rq import RQBackend
from rq.worker import SimpleWorker


def whole_second_after(moment: dt.datetime) -> dt.datetime:
    """`moment` itself when it is a whole second, else the next whole second."""
    if moment.microsecond == 0:
        return moment
    return moment.replace(microsecond=0) + dt.timedelta(seconds=1)


class Backend(RQBackend):
    def enqueue(self, task, args, kwargs):
        if task.run_after is not None:
            task = task.using(run_after=whole_second_after(task.run_after))
        return super().enqueue(task, args, kwargs)


class Worker(SimpleWorker):
    def execute_job(self, job, queue):
        close_old_connections()
        try:
            return super().execute_job(job, queue)
        finally:
            close_old_connections()
