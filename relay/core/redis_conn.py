"""The Redis connection for jobs, locks and health checks."""

from functools import lru_cache

from redis import Redis

from relay.core.settings import get_settings


class RedisNotConfigured(RuntimeError):
    pass


@lru_cache(maxsize=4)
def get_redis(url: str | None = None) -> Redis:
    url = url or get_settings().redis_url
    if not url:
        raise RedisNotConfigured("REDIS_URL is not set (make run sets it for the embedded Redis)")
    return Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
