"""RQ queues, always built with an explicit connection (rq's own style)."""

from rq import Queue

from relay.redis_conn import get_redis

QUEUE_NAMES = ("default",)


def get_queue(name: str = "default") -> Queue:
    return Queue(name, connection=get_redis())
