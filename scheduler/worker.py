"""The worker process: an RQ worker (with RQ's scheduler) and RQ's cron next to it.

RQ's CronScheduler runs its own loop and signal handlers, so like RQ's
scheduler it gets a forked child process of the worker: `relay serve worker`
stays one process to start and stop. The child stops when the worker tells
it to, and also on its own if the worker dies without telling (SIGKILL).

Jobs run in the worker process itself (RQ's SimpleWorker), not in a work
horse forked for each job as RQ's default Worker does. A send job is a few
milliseconds of work, and a fresh horse pays for everything a warm process
has already done: importing the job's modules (SQLAlchemy models, the twilio
client, the templates), a new database connection, a new HTTPS connection to
Twilio. On the bench machine (2 busy cores) a send job took 1.5 to 3 s
that way, against about 10 ms in a warm process (`make bench`). What the horse would have bought is
isolation, and the send job does not rely on it: a job that dies, hangs past
its timeout (RQ's SIGALRM death penalty works in the worker process) or takes
the worker down leaves its row `queued` or `sending`, and the sweep recovers
those rows exactly as it does after a killed horse (scheduler.sweep).
"""

import gc
import logging
import os
import signal
from multiprocessing import get_context
from multiprocessing.process import BaseProcess

from redis import Redis
from rq import SimpleWorker
from rq.cron import CronScheduler
from rq.exceptions import StopRequested

from relay.core.redis_conn import get_redis
from relay.core.settings import get_settings
from scheduler.queues import QUEUE_NAMES

CRON_CONFIG = "scheduler.cron"

log = logging.getLogger("relay.scheduler.worker")


class _WorkerBoundCron(CronScheduler):
    """RQ's cron scheduler, which stops once the worker that started it is gone."""

    def __init__(self, *args, worker_pid: int, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        self.worker_pid = worker_pid

    def heartbeat(self) -> None:
        if os.getppid() != self.worker_pid:
            raise StopRequested()
        super().heartbeat()


def _run_cron(redis_url: str, worker_pid: int) -> None:
    # A connection of its own: sockets are not shared across fork.
    scheduler = _WorkerBoundCron(connection=Redis.from_url(redis_url), worker_pid=worker_pid)
    scheduler.load_config_from_file(CRON_CONFIG)
    scheduler.start()


def start_cron() -> BaseProcess:
    process = get_context("fork").Process(
        target=_run_cron, args=(get_settings().redis_url, os.getpid()), name="relay-cron", daemon=True
    )
    process.start()
    return process


def stop_cron(process: BaseProcess, timeout: float = 10.0) -> None:
    if process.is_alive():
        os.kill(process.pid, signal.SIGTERM)
    process.join(timeout)
    if process.is_alive():
        process.kill()
        process.join()


def load_job_code() -> None:
    """Import what the jobs run, before the cron and scheduler children are forked.

    A forked child shares its parent's memory pages until one of them writes
    to a page. Imported first, the app's modules (SQLAlchemy models, the
    twilio client, the templates) sit in pages the children share, instead of
    the cron child importing its own copy of everything (it imports the sweep
    to register it) and the worker its own. gc.freeze() keeps the garbage
    collector from writing to (and so copying) those objects' pages later.
    """
    import relay.outreach.templates  # noqa: F401
    import scheduler.jobs  # noqa: F401
    import scheduler.sweep  # noqa: F401

    gc.freeze()


def run_worker() -> None:
    load_job_code()
    cron = start_cron()
    try:
        worker = SimpleWorker(list(QUEUE_NAMES), connection=get_redis())
        worker.work(with_scheduler=True)
    finally:
        stop_cron(cron)
