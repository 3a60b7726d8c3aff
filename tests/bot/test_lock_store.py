"""bot/lock_store.py: Rasa's ticket lock, each change one atomic Redis script, on the tests' real Redis."""

import os

import pytest
from redis import Redis

from tests.bot.rasa_probe import run_in_rasa

# Runs in the Rasa venv against REDIS_URL: the same steps on Rasa's RedisLockStore and on ours.
PROBE = r"""
import asyncio, json, os, sys, threading, uuid
from urllib.parse import urlparse
from rasa.core.lock_store import RedisLockStore
from rasa.utils.endpoints import EndpointConfig
from bot.lock_store import AtomicRedisLockStore

url = urlparse(os.environ["REDIS_URL"])
db = (url.path or "/0").strip("/") or "0"
prefix = sys.argv[1]
rasa = RedisLockStore(host=url.hostname, port=url.port, db=db, key_prefix=prefix + "rasa")
ours = AtomicRedisLockStore(EndpointConfig(url.hostname, port=url.port, db=db, key_prefix=prefix + "ours"))

def tickets(store, conversation):
    lock = store.get_lock(conversation)
    return None if lock is None else [t.number for t in lock.tickets]

def steps(store):
    seen = []
    c = "conversation"
    seen.append(store.issue_ticket(c, 60))            # 0
    seen.append(store.issue_ticket(c, 60))            # 1
    lock = store.get_lock(c)
    seen.append([lock.now_serving, lock.is_locked(0), lock.is_locked(1)])
    store.cleanup(c, 0)
    seen.append(tickets(store, c))                     # [1]
    store.cleanup(c, 1)
    seen.append(tickets(store, c))                     # None: deleted
    seen.append(store.issue_ticket(c, -1))            # expired at once
    seen.append(store.issue_ticket(c, 60))            # the expired one is dropped: 0 again
    store.update_lock(c)
    seen.append(tickets(store, c))
    store.cleanup(c, 0)
    seen.append(tickets(store, c))
    return seen

out = {"rasa": steps(rasa), "ours": steps(ours)}

# Many threads issuing tickets for one conversation at once: every number once.
numbers, guard = [], threading.Lock()
def issue(n):
    for _ in range(n):
        number = ours.issue_ticket("together", 60)
        with guard:
            numbers.append(number)
threads = [threading.Thread(target=issue, args=(25,)) for _ in range(8)]
for t in threads: t.start()
for t in threads: t.join()
out["together"] = sorted(numbers)
for number in range(200):
    ours.cleanup("together", number)
out["together_left"] = tickets(ours, "together")

# Rasa's own lock() cycle on our store: turns of one conversation run one after the other, in order.
async def turns():
    order = []
    async def turn(name):
        async with ours.lock("turns", wait_time_in_seconds=0.01):
            order.append(("start", name))
            await asyncio.sleep(0.05)
            order.append(("end", name))
    await asyncio.gather(*(turn(n) for n in range(4)))
    return order
out["turns"] = asyncio.run(turns())
out["turns_left"] = tickets(ours, "turns")
print(json.dumps(out))
"""


@pytest.mark.rasa
def test_atomic_lock_store_behaves_as_rasas_and_never_issues_a_ticket_twice():
    prefix = f"t{os.getpid()}"
    try:
        out = run_in_rasa(PROBE, prefix)
    finally:
        redis = Redis.from_url(os.environ["REDIS_URL"])
        leftover = list(redis.scan_iter(f"{prefix}*"))
        if leftover:
            redis.delete(*leftover)

    assert out["ours"] == out["rasa"]
    assert out["ours"][:5] == [0, 1, [0, False, True], [1], None]
    assert out["ours"][6:] == [0, [0], None]
    assert out["together"] == list(range(200))
    assert out["together_left"] is None
    # Each turn ends before the next starts, in the order the tickets were issued.
    starts = [name for step, name in out["turns"] if step == "start"]
    assert out["turns"] == [[step, name] for name in starts for step in ("start", "end")] and len(starts) == 4
    assert out["turns_left"] is None
    assert not leftover, "a lock was left behind"
