"""Outbound SMS through Twilio's REST API, recorded in the conversation.

Everything the clinic sends on its own initiative (staff replies, and later
reminders and campaigns) goes through `send_sms`, so every send is stored
with Twilio's SID, which the status callbacks later move forward.

Three destinations, decided by settings:
- Twilio itself (real credentials);
- another host speaking Twilio's API (`TWILIO_API_BASE_URL`: the tests' fake,
  a recording proxy), through the same official client;
- the dev outbox (placeholder credentials and no base URL): nothing leaves the
  machine; each message is appended to var/outbox.jsonl for the developer.

Logs carry SIDs, statuses and masked numbers, never bodies.
"""

import json
import logging
import uuid
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import requests
from sqlalchemy.orm import Session
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from relay import conversations
from relay.clinics import get_clinic
from relay.models import Conversation, Message
from relay.phones import mask
from relay.settings import DEV_ACCOUNT_SID, PROJECT_ROOT, Settings, get_settings

log = logging.getLogger("relay.sms_sender")

OUTBOX_PATH = PROJECT_ROOT / "var" / "outbox.jsonl"
STATUS_CALLBACK_PATH = "/webhooks/twilio/status"
DEV_OUTBOX_STATUS = "dev_outbox"
REQUEST_TIMEOUT_SECONDS = 15.0


class SmsSendError(RuntimeError):
    """Twilio did not accept the message. Nothing was stored.

    `status` is the HTTP status (None when Twilio could not be reached) and
    `code` Twilio's error code (21211 invalid number, 21610 unsubscribed
    recipient, 20429 too many requests, ...).
    """

    def __init__(self, message: str, *, status: int | None, code: int | None) -> None:
        super().__init__(message)
        self.status, self.code = status, code

    @property
    def retryable(self) -> bool:
        return self.status is None or self.status == 429 or self.status >= 500


class _RebasedHttpClient(TwilioHttpClient):
    """The official HTTP client, sending every request to another host.

    twilio-python builds absolute URLs (https://api.twilio.com/2010-04-01/...)
    in each domain; rewriting scheme and host here, the one place every request
    passes, keeps all of the library's request building, auth and error handling.
    """

    def __init__(self, base_url: str, **kwargs) -> None:  # noqa: ANN003
        super().__init__(**kwargs)
        self._base = urlsplit(base_url.rstrip("/"))

    def request(self, method: str, url: str, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
        parts = urlsplit(url)
        rebased = urlunsplit((self._base.scheme, self._base.netloc, self._base.path + parts.path, parts.query, ""))
        return super().request(method, rebased, *args, **kwargs)


def uses_dev_outbox(settings: Settings | None = None) -> bool:
    settings = settings or get_settings()
    return settings.twilio_account_sid == DEV_ACCOUNT_SID and not settings.twilio_api_base_url


def twilio_client(settings: Settings | None = None) -> Client:
    settings = settings or get_settings()
    if settings.twilio_api_base_url:
        http_client = _RebasedHttpClient(settings.twilio_api_base_url, timeout=REQUEST_TIMEOUT_SECONDS)
    else:
        http_client = TwilioHttpClient(timeout=REQUEST_TIMEOUT_SECONDS)
    return Client(
        settings.twilio_account_sid, settings.twilio_auth_token.get_secret_value(), http_client=http_client
    )


def status_callback_url(settings: Settings | None = None) -> str:
    return (settings or get_settings()).base_url + STATUS_CALLBACK_PATH


def send_sms(session: Session, *, conversation: Conversation, body: str, author: str, now: datetime) -> Message:
    """Send `body` from the clinic's SMS number to the conversation's number; store it as outbound."""
    settings = get_settings()
    from_number = get_clinic(session).sms_number
    callback = status_callback_url(settings)
    if uses_dev_outbox(settings):
        sid, status = "DEV" + uuid.uuid4().hex, DEV_OUTBOX_STATUS
        _append_to_outbox(
            {
                "sid": sid,
                "at": now.isoformat(),
                "from": from_number,
                "to": conversation.phone,
                "body": body,
                "status_callback": callback,
                "author": author,
                "conversation": conversation.public_id,
            }
        )
    else:
        sid, status = _send_with_twilio(
            settings, to=conversation.phone, from_=from_number, body=body, status_callback=callback
        )
    message = conversations.record_message(
        session,
        conversation=conversation,
        direction="outbound",
        channel="sms",
        author=author,
        body=body,
        twilio_sid=sid,
        now=now,
    )
    message.delivery_status = status
    session.flush()
    log.info("sms sent sid=%s to=%s status=%s author=%s", sid, mask(conversation.phone), status, author)
    return message


def _send_with_twilio(settings: Settings, *, to: str, from_: str, body: str, status_callback: str) -> tuple[str, str]:
    try:
        sent = twilio_client(settings).messages.create(
            to=to, from_=from_, body=body, status_callback=status_callback
        )
    except TwilioRestException as exc:
        log.warning("sms refused to=%s http=%s code=%s", mask(to), exc.status, exc.code)
        raise SmsSendError(
            f"Twilio refused the message (HTTP {exc.status}, code {exc.code})", status=exc.status, code=exc.code
        ) from None
    except requests.RequestException as exc:
        log.warning("sms not sent to=%s: Twilio unreachable (%s)", mask(to), type(exc).__name__)
        raise SmsSendError(f"Twilio could not be reached ({type(exc).__name__})", status=None, code=None) from None
    return sent.sid, str(sent.status or "queued")


def _append_to_outbox(entry: dict, path: Path | None = None) -> None:
    path = path or OUTBOX_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as outbox:
        outbox.write(json.dumps(entry) + "\n")
