"""Talk to the Rasa server over its HTTP channels (Rasa runs in its own venv)."""

from functools import lru_cache
from urllib.parse import quote

import httpx

from relay.core.settings import get_settings


class RasaUnavailable(RuntimeError):
    """Rasa did not answer in time or answered with an error."""


class RasaTimeout(RasaUnavailable):
    """Rasa took longer than the caller's timeout (it may still finish the turn)."""


@lru_cache(maxsize=1)
def _client() -> httpx.Client:
    # One pooled client per process: a new TCP connection per turn costs more
    # than the rest of our webhook does.
    return httpx.Client(limits=httpx.Limits(max_connections=64, max_keepalive_connections=32))


def send_message(
    *, sender: str, text: str, channel: str, timeout: float | None = None, metadata: dict | None = None
) -> list[dict]:
    """Post one user message to Rasa's `channel` input; return the bot's messages.

    `metadata` reaches the actions as the message's metadata (the patient's
    language on record, which action_detect_language starts from).
    """
    settings = get_settings()
    url = f"{settings.rasa_url.rstrip('/')}/webhooks/{channel}/webhook"
    try:
        response = _client().post(
            url,
            json={"sender": sender, "message": text, "metadata": metadata or {}},
            timeout=timeout or settings.rasa_timeout_seconds,
        )
        response.raise_for_status()
    except httpx.TimeoutException as exc:
        raise RasaTimeout(type(exc).__name__) from None
    except httpx.HTTPError as exc:
        raise RasaUnavailable(type(exc).__name__) from None
    return response.json()


def is_ready(timeout: float = 2.0) -> bool:
    """True when Rasa answers and has a model loaded."""
    try:
        response = _client().get(f"{get_settings().rasa_url.rstrip('/')}/status", timeout=timeout)
    except httpx.HTTPError:
        return False
    return response.status_code == 200 and bool(response.json().get("model_file"))


def get_tracker(sender: str, timeout: float = 2.0) -> dict:
    """What Rasa remembers of a conversation: its tracker (slots, events), from the HTTP API.

    Rasa runs with --enable-api and no token, on loopback. Raises RasaTimeout or
    RasaUnavailable (also for an answer that is not a tracker), so a caller can
    go on without it.
    """
    url = f"{get_settings().rasa_url.rstrip('/')}/conversations/{quote(sender, safe='')}/tracker"
    try:
        response = _client().get(url, timeout=timeout)
        response.raise_for_status()
        tracker = response.json()
    except httpx.TimeoutException as exc:
        raise RasaTimeout(type(exc).__name__) from None
    except (httpx.HTTPError, ValueError) as exc:
        raise RasaUnavailable(type(exc).__name__) from None
    if not isinstance(tracker, dict):
        raise RasaUnavailable("not a tracker")
    return tracker
