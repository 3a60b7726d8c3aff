"""Where a send's time goes: send jobs run in this process under cProfile, grouped by layer.

The same environment as the outreach bench (bench.outreach.bench_environment:
a scratch database, real Redis, the fake Twilio in its own process), a few
thousand planned confirmations made due and queued as the sweep would queue
them, then `send_outreach_batch` called here, in batches of the sweep's size,
so cProfile sees every step. Prints milliseconds per send by layer and the
functions with the most own time.

    python -m bench.profile_dispatch [sends]     (BENCH_PROFILE_TOP=30 for more rows)
"""

import cProfile
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, update
from tqdm import tqdm

from bench.profile import ProfileStats, own_time_by_group

GROUPS = (
    (
        "twilio client + HTTP (requests, urllib3, socket)",
        ("twilio/", "requests/", "urllib3/", "socket.py", "http/client"),
    ),
    ("redis (rate limiter)", ("redis/",)),
    ("database (SQLAlchemy + driver)", ("sqlalchemy/", "sqlite3", "psycopg")),
    ("relay code", ("/relay/", "/scheduler/")),
)


def layers(stats: ProfileStats, sends: int) -> dict[str, float]:
    """Milliseconds per send of each layer's own time, and their total."""
    totals = own_time_by_group(stats, GROUPS)
    per_send = {name: round(seconds * 1000 / sends, 3) for name, seconds in totals.items()}
    per_send["total"] = round(sum(totals.values()) * 1000 / sends, 3)
    return per_send


def profile_dispatch(sends: int = 1000) -> tuple[dict, ProfileStats]:
    """Send `sends` rows in this process under cProfile; the figures, and the profile."""
    from bench.outreach import bench_environment, choose_dispatch_rows, create_appointments

    with bench_environment() as bench, _environment(bench.env):
        from relay.core.db import dispose_engines, session_scope
        from relay.models import PlannedOutreach
        from relay.outreach.bulk import replan_all
        from scheduler.jobs import send_outreach_batch
        from scheduler.sweep import MAX_ROWS_PER_JOB

        url = bench.database_url
        plan_now = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
        create_appointments(url, int(sends * 1.3) + 50, plan_now=plan_now, progress=tqdm(disable=True))
        with session_scope(url) as session:
            session.execute(delete(PlannedOutreach))
            replan_all(session, now=plan_now)
        ids = [row.outreach_id for row in choose_dispatch_rows(url, sends + MAX_ROWS_PER_JOB)]
        now = datetime.now(UTC)
        with session_scope(url) as session:
            session.execute(
                update(PlannedOutreach)
                .where(PlannedOutreach.id.in_(ids))
                .values(state="queued", due_at=now, updated_at=now)
            )
        send_outreach_batch(ids[:MAX_ROWS_PER_JOB])  # warm: imports, connections, caches
        ids = ids[MAX_ROWS_PER_JOB:]
        profiler = cProfile.Profile()
        results: dict[str, int] = {}
        started = time.perf_counter()
        for start in range(0, len(ids), MAX_ROWS_PER_JOB):
            profiler.enable()
            outcome = send_outreach_batch(ids[start : start + MAX_ROWS_PER_JOB])
            profiler.disable()
            for result in outcome.values():
                results[result] = results.get(result, 0) + 1
        wall = time.perf_counter() - started
        dispose_engines()
    stats = ProfileStats(profiler)
    figures = {"database": bench.database, "sends": len(ids), "rows_per_job": MAX_ROWS_PER_JOB, "results": results,
               "sends_per_s_profiled": round(len(ids) / wall, 1), "ms_per_send": layers(stats, len(ids))}  # fmt: skip
    return figures, stats


@contextmanager
def _environment(env: dict[str, str]) -> Iterator[None]:
    """This process configured like the bench's workers (settings, engines and Redis read afresh), and back after."""
    from relay.core.db import dispose_engines
    from relay.core.redis_conn import get_redis
    from relay.core.settings import get_settings

    def forget() -> None:
        get_settings.cache_clear()
        get_redis.cache_clear()
        dispose_engines()

    saved = dict(os.environ)
    os.environ.update(env)
    forget()
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
        forget()


def main(sends: int = 1000) -> int:
    figures, stats = profile_dispatch(sends)
    print(f"database: {figures['database']}; {figures['sends']} sends in batches of {figures['rows_per_job']}: "
          f"{figures['results']}; {figures['sends_per_s_profiled']} sends/s in one process (profiled)")  # fmt: skip
    for name, ms in figures["ms_per_send"].items():
        print(f"  {name:52s} {ms:7.3f} ms/send")
    stats.sort_stats("tottime").print_stats(int(os.environ.get("BENCH_PROFILE_TOP", "25")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(*(int(arg) for arg in sys.argv[1:])))
