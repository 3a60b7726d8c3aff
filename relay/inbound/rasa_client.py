"""Talk to the Rasa server over its HTTP channels (Rasa runs in its own venv).

With RASA_REPLICAS above 1 there are several Rasa servers (settings.rasa_urls).
A conversation goes to the one its sender hashes to, so its turns normally
stay on one replica; any replica could answer it, since they share the SQL
tracker store and the Redis lock store. A replica that refuses the connection
is down and the next one is asked; a replica that took the message and then
failed or ran late is not: it may have processed the message, and Rasa would
process it a second time.
"""

import hashlib
import logging
import time
from collections.abc import Callable
from functools import lru_cache
from urllib.parse import quote

import httpx

from relay.core.settings import get_settings

log = logging.getLogger("relay.inbound.rasa_client")

# A replica that has not accepted the connection by then is down or swamped
# (on loopback a connection is accepted in microseconds): try the next one.
CONNECT_TIMEOUT_SECONDS = 2.0


class RasaUnavailable(RuntimeError):
    """Rasa did not answer in time or answered with an error."""


class RasaTimeout(RasaUnavailable):
    """Rasa took longer than the caller's timeout (it may still finish the turn)."""


@lru_cache(maxsize=1)
def _client() -> httpx.Client:
    # One pooled client per process: a new TCP connection per turn costs more
    # than the rest of our webhook does.
    return httpx.Client(limits=httpx.Limits(max_connections=64, max_keepalive_connections=32))


def replicas_for(sender: str, urls: list[str]) -> list[str]:
    """The replicas to ask about this conversation, in order: its own (by a hash of the sender), then the rest.

    sha256, not hash(): Python salts hash() per process, and every API worker
    must send a conversation to the same replica.
    """
    start = int.from_bytes(hashlib.sha256(sender.encode()).digest()[:8], "big") % len(urls)
    return urls[start:] + urls[:start]


def _first_that_connects(
    sender: str, timeout: float, request: Callable[[str, httpx.Timeout], httpx.Response]
) -> httpx.Response:
    """`request` against the sender's replica, then the next ones while a replica refuses the connection.

    Only a failure to connect moves on (the request never left); `timeout`
    is one budget for all the tries together.
    """
    deadline = time.monotonic() + timeout
    urls = replicas_for(sender, get_settings().rasa_urls)
    for i, base in enumerate(urls):
        remaining = max(deadline - time.monotonic(), 0.001)
        try:
            return request(base, httpx.Timeout(remaining, connect=min(remaining, CONNECT_TIMEOUT_SECONDS)))
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            if i == len(urls) - 1:
                raise
            log.warning("rasa replica %s not reachable (%s); trying %s", base, type(exc).__name__, urls[i + 1])
    raise AssertionError("unreachable: settings.rasa_urls is never empty")


def send_message(
    *, sender: str, text: str, channel: str, timeout: float | None = None, metadata: dict | None = None
) -> list[dict]:
    """Post one user message to Rasa's `channel` input; return the bot's messages.

    `metadata` reaches Rasa's NLU and the actions as the message's metadata
    (relay.language.detect.language_metadata: the language on record, and the
    one the text is in when that is clear).
    """
    body = {"sender": sender, "message": text, "metadata": metadata or {}}

    def post(base: str, limit: httpx.Timeout) -> httpx.Response:
        response = _client().post(f"{base}/webhooks/{channel}/webhook", json=body, timeout=limit)
        response.raise_for_status()
        return response

    try:
        response = _first_that_connects(sender, timeout or get_settings().rasa_timeout_seconds, post)
    except httpx.TimeoutException as exc:
        raise RasaTimeout(type(exc).__name__) from None
    except httpx.HTTPError as exc:
        raise RasaUnavailable(type(exc).__name__) from None
    return response.json()


def is_ready(timeout: float = 2.0) -> bool:
    """True when every Rasa replica answers and has a model loaded.

    Every one, not any: this is what start-up waits for and what /health
    reports, and a replica that is down is worth knowing about even while the
    others answer its conversations.
    """
    return not replicas_down(timeout)


def replicas_down(timeout: float = 2.0) -> list[int]:
    """The replicas (numbered from 0) that do not answer or have no model loaded."""
    return [i for i, base in enumerate(get_settings().rasa_urls) if not _replica_ready(base, timeout)]


def _replica_ready(base: str, timeout: float) -> bool:
    try:
        response = _client().get(f"{base}/status", timeout=timeout)
        return response.status_code == 200 and bool(response.json().get("model_file"))
    except (httpx.HTTPError, ValueError):
        return False


def get_tracker(sender: str, timeout: float = 2.0) -> dict:
    """What Rasa remembers of a conversation: its tracker (slots, events), from the HTTP API.

    Any replica can tell (the tracker store is shared); the conversation's own
    is asked first. Rasa runs with --enable-api and no token, on loopback.
    Raises RasaTimeout or RasaUnavailable (also for an answer that is not a
    tracker), so a caller can go on without it.
    """

    def get(base: str, limit: httpx.Timeout) -> httpx.Response:
        response = _client().get(f"{base}/conversations/{quote(sender, safe='')}/tracker", timeout=limit)
        response.raise_for_status()
        return response

    try:
        tracker = _first_that_connects(sender, timeout, get).json()
    except httpx.TimeoutException as exc:
        raise RasaTimeout(type(exc).__name__) from None
    except (httpx.HTTPError, ValueError) as exc:
        raise RasaUnavailable(type(exc).__name__) from None
    if not isinstance(tracker, dict):
        raise RasaUnavailable("not a tracker")
    return tracker
