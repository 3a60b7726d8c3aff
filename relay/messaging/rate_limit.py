"""Messages per second per sender number, shared by every worker through Redis.

pyrate-limiter's Redis bucket keeps a sliding log of send times in one sorted
set per sender and checks-and-inserts atomically in a Lua script. Two details
make "never more than N in any second, as Twilio sees it" hold across workers
and hosts:

- The bucket counts the entries between `now - window` and the `now` the
  caller passes, so a caller whose timestamp is a little older than an entry
  another worker just wrote would not see that entry, and two sends could
  pass together. Each take therefore reads the time from Redis (one clock for
  every worker, no skew between hosts) under a short per-sender lock, so the
  log is written in time order.
- A request reaches Twilio some milliseconds after its slot was taken, and
  that delay varies; the window is 1 s plus a guard
  (`OUTREACH_RATE_LIMIT_GUARD_MS`) so the variation cannot squeeze N+1
  arrivals into one second. (`limits`, the other candidate, only has
  whole-second Redis windows.)
"""

import logging
import time
from contextlib import suppress

from pyrate_limiter import Decision, Rate, RateItem, RedisBucket
from redis import Redis
from redis.exceptions import LockError

from relay.core.phones import mask

log = logging.getLogger("relay.messaging.rate_limit")

KEY_PREFIX = "relay:sms-rate:"
LOCK_TIMEOUT_SECONDS = 5  # a holder that dies frees the lock after this


class SenderRateLimiter:
    def __init__(self, redis: Redis, *, per_second: int, guard_ms: int = 100) -> None:
        self.redis = redis
        self.per_second = per_second
        self.window_ms = 1000 + max(guard_ms, 0)
        self._buckets: dict[str, RedisBucket] = {}

    @property
    def enabled(self) -> bool:
        return self.per_second > 0

    def acquire(self, sender: str, *, max_wait: float) -> bool:
        """Take one send slot for `sender`, waiting up to `max_wait` seconds; False if none came."""
        if not self.enabled:
            return True
        deadline = time.monotonic() + max_wait
        while True:
            wait_ms = self._try_take(sender, blocking_timeout=max(deadline - time.monotonic(), 0.01))
            if wait_ms == 0:
                return True
            wait = max(wait_ms, 1) / 1000
            if time.monotonic() + wait > deadline:
                log.info("rate limit: no slot for sender=%s within %.1fs", mask(sender), max_wait)
                return False
            time.sleep(wait)

    def _try_take(self, sender: str, *, blocking_timeout: float) -> int:
        """0 when a slot was taken, else the milliseconds to wait before asking again."""
        bucket = self._bucket(sender)
        lock = self.redis.lock(
            KEY_PREFIX + sender + ":lock", timeout=LOCK_TIMEOUT_SECONDS, blocking_timeout=blocking_timeout
        )
        if not lock.acquire():
            return 50
        try:
            seconds, micros = self.redis.time()
            now_ms = seconds * 1000 + micros // 1000
            decision = bucket.put_decision(RateItem(sender, now_ms))
            if not isinstance(decision, Decision):  # only an asyncio Redis client answers later
                raise TypeError("the sender's bucket must use a synchronous Redis client")
            if decision.allowed:
                # Forget entries older than the window; an idle sender's key expires.
                bucket.leak(now_ms)
                self.redis.pexpire(bucket.bucket_key, 2 * self.window_ms)
                return 0
            return decision.retry_after_ms or 50
        finally:
            with suppress(LockError):  # expired while we held it: nothing left to free
                lock.release()

    def _bucket(self, sender: str) -> RedisBucket:
        if sender not in self._buckets:
            rates = [Rate(self.per_second, self.window_ms)]
            self._buckets[sender] = RedisBucket.init(rates, self.redis, KEY_PREFIX + sender)
        return self._buckets[sender]
