"""RQ queues, always built with an explicit connection (rq's own style)."""

from rq import Queue

from relay.core.redis_conn import get_redis

# Workers take the sweep before any send job, so recovery never waits behind a backlog.
SWEEP_QUEUE = "sweep"
SEND_QUEUE = "default"
QUEUE_NAMES = (SWEEP_QUEUE, SEND_QUEUE)


def get_queue(name: str = SEND_QUEUE) -> Queue:
    return Queue(name, connection=get_redis())
