"""The worker process: an RQ worker (with RQ's scheduler) and RQ's cron next to it.

RQ's CronScheduler runs its own loop and signal handlers, so like RQ's
scheduler it gets a forked child process of the worker: `relay serve worker`
stays one process to start and stop. The child stops when the worker tells
it to, and also on its own if the worker dies without telling (SIGKILL).
"""

import logging
import os
import signal
from multiprocessing import get_context
from multiprocessing.process import BaseProcess

from redis import Redis
from rq import Worker
from rq.cron import CronScheduler
from rq.exceptions import StopRequested

from relay.redis_conn import get_redis
from relay.settings import get_settings
from scheduler.queues import QUEUE_NAMES

CRON_CONFIG = "scheduler.cron_config"

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


def run_worker() -> None:
    cron = start_cron()
    try:
        worker = Worker(list(QUEUE_NAMES), connection=get_redis())
        worker.work(with_scheduler=True)
    finally:
        stop_cron(cron)
