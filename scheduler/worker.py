"""The RQ worker process (with RQ's scheduler, for jobs enqueued at a time)."""

from rq import Worker

from relay.redis_conn import get_redis
from scheduler.queues import QUEUE_NAMES


def run_worker() -> None:
    worker = Worker(list(QUEUE_NAMES), connection=get_redis())
    worker.work(with_scheduler=True)
