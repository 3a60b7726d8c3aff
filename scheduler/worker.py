"""The worker process: an RQ worker, with RQ's scheduler for the follow-up sweeps (`relay serve worker`).

RQ's cron, which starts the periodic sweep, is a process of its own
(scheduler.cron), so the number of workers never multiplies the schedule.

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

from rq import SimpleWorker

from relay.core.logs import configure
from relay.core.redis_conn import get_redis
from scheduler.queues import QUEUE_NAMES


def load_job_code() -> None:
    """Import what the jobs run, before RQ's scheduler child is forked.

    A forked child shares its parent's memory pages until one of them writes
    to a page. Imported first, the app's modules (SQLAlchemy models, the
    twilio client, the templates) sit in pages the child shares instead of
    copies of its own. gc.freeze() keeps the garbage collector from writing
    to (and so copying) those objects' pages later.
    """
    import scheduler.jobs
    import scheduler.sweep  # noqa: F401

    gc.freeze()


def run_worker() -> None:
    load_job_code()
    SimpleWorker(list(QUEUE_NAMES), connection=get_redis()).work(with_scheduler=True)


if __name__ == "__main__":
    configure()
    run_worker()
