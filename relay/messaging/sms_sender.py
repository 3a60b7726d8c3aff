"""Outbound SMS through Twilio's REST API, recorded in the conversation.

Everything the clinic sends on its own initiative goes through here: staff
replies through `send_sms` (send, then store in the conversation), the
outreach engine (scheduler/) through the lower-level `SmsGateway`, because
it stores its message before sending and takes a rate-limit slot between
preparing a send and making it (see scheduler.jobs). Either way every
send is stored with Twilio's SID, which the status callbacks later move
forward. `find_sent` answers "did this exact message already go out?" for the
engine's recovery of a send interrupted halfway.

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
import os
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import requests
import urllib3
from sqlalchemy.orm import Session
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from relay.core.phones import mask
from relay.core.settings import DEV_ACCOUNT_SID, PROJECT_ROOT, Settings, get_settings
from relay.models import Conversation, DeliveryStatus, Message
from relay.records import conversations
from relay.records.clinics import get_clinic

log = logging.getLogger("relay.messaging.sms_sender")

OUTBOX_PATH = PROJECT_ROOT / "var" / "outbox.jsonl"
TWILIO_API_URL = "https://api.twilio.com"
STATUS_CALLBACK_PATH = "/webhooks/twilio/status"
REQUEST_TIMEOUT_SECONDS = 15.0


class SmsSendError(RuntimeError):
    """Twilio did not accept the message. Nothing was stored.

    `status` is the HTTP status (None when Twilio could not be reached) and
    `code` Twilio's error code (21211 invalid number, 21610 unsubscribed
    recipient, 20429 too many requests, ...). `maybe_sent` is True when the
    request may have reached Twilio without us hearing the answer (a read
    timeout, a connection dropped mid-request): Twilio may have the message.
    """

    def __init__(self, message: str, *, status: int | None, code: int | None, maybe_sent: bool = False) -> None:
        super().__init__(message)
        self.status, self.code, self.maybe_sent = status, code, maybe_sent

    @property
    def retryable(self) -> bool:
        return self.status is None or self.status == 429 or self.status >= 500


class SmsLookupUnavailable(RuntimeError):
    """We could not ask whether a message was sent (Twilio unreachable or refusing)."""


@dataclass(frozen=True)
class SentSms:
    """What Twilio (or the dev outbox) answered for one accepted message."""

    sid: str
    status: str


class _RebasedHttpClient(TwilioHttpClient):
    """The official HTTP client, sending every request to another host.

    twilio-python builds absolute URLs (https://api.twilio.com/2010-04-01/...)
    in each domain; rewriting scheme and host here, the one place every request
    passes, keeps all of the library's request building, auth and error handling.
    """

    def __init__(self, base_url: str, *, timeout: float | None = None) -> None:
        super().__init__(timeout=timeout)
        self._base = urlsplit(base_url.rstrip("/"))

    def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        parts = urlsplit(url)
        rebased = urlunsplit((self._base.scheme, self._base.netloc, self._base.path + parts.path, parts.query, ""))
        return super().request(method, rebased, params, data, headers, auth, timeout, allow_redirects)


def _read_environment_once(http_client: TwilioHttpClient, url: str) -> None:
    """Take the proxy and CA bundle settings from the environment now, instead of on every request.

    requests reads them for each request (HTTPS_PROXY, NO_PROXY,
    REQUESTS_CA_BUNDLE ...: two walks over os.environ), which cost about as
    much as the rest of the client's work per message (bench/profile_dispatch.py).
    The client only ever talks to one host, so reading them once for that
    host gives the same answer. Must run before the first request.
    """
    http_client.proxy = http_client.proxy or requests.utils.get_environ_proxies(url)
    session = http_client.session
    if session is None:  # built without pool_connections: a new session per request, nothing to set
        return
    session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    session.trust_env = False


def uses_dev_outbox(settings: Settings | None = None) -> bool:
    settings = settings or get_settings()
    return settings.twilio_account_sid == DEV_ACCOUNT_SID and not settings.twilio_api_base_url


def twilio_client(settings: Settings | None = None) -> Client:
    settings = settings or get_settings()
    http_client = (
        _RebasedHttpClient(settings.twilio_api_base_url, timeout=REQUEST_TIMEOUT_SECONDS)
        if settings.twilio_api_base_url
        else TwilioHttpClient(timeout=REQUEST_TIMEOUT_SECONDS)
    )
    _read_environment_once(http_client, settings.twilio_api_base_url or TWILIO_API_URL)
    return Client(settings.twilio_account_sid, settings.twilio_auth_token.get_secret_value(), http_client=http_client)


def status_callback_url(settings: Settings | None = None) -> str:
    return (settings or get_settings()).base_url + STATUS_CALLBACK_PATH


def send_sms(session: Session, *, conversation: Conversation, body: str, author: str, now: datetime) -> Message:
    """Send `body` from the clinic's SMS number to the conversation's number; store it as outbound."""
    sent = send_to_number(
        to=conversation.phone,
        from_=get_clinic(session).sms_number,
        body=body,
        now=now,
        outbox_extra={"author": author, "conversation": conversation.public_id},
    )
    message = conversations.record_message(
        session,
        conversation=conversation,
        direction="outbound",
        channel="sms",
        author=author,
        body=body,
        twilio_sid=sent.sid,
        delivery_status=sent.status,
        now=now,
    )
    log.info("sms sent sid=%s to=%s status=%s author=%s", sent.sid, mask(conversation.phone), sent.status, author)
    return message


def send_to_number(
    *,
    to: str,
    from_: str,
    body: str,
    now: datetime,
    settings: Settings | None = None,
    outbox_extra: dict | None = None,
) -> SentSms:
    """Hand one message to Twilio (or the dev outbox), with our status callback; store nothing.

    Raises SmsSendError when Twilio refuses it or cannot be reached.
    """
    return SmsGateway(settings).send(to=to, from_=from_, body=body, now=now, outbox_extra=outbox_extra)


class SmsGateway:
    """The way out for messages: Twilio through the official client, or the dev outbox.

    Building it does all the slow preparation (the client, the library's
    lazily imported Messages API), so `send` is little more than the HTTP
    request: a caller that takes a rate-limit slot between the two knows the
    request follows the slot closely.
    """

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self.callback = status_callback_url(self.settings)
        self.dev_outbox = uses_dev_outbox(self.settings)
        self._messages = None if self.dev_outbox else twilio_client(self.settings).messages

    def send(self, *, to: str, from_: str, body: str, now: datetime, outbox_extra: dict | None = None) -> SentSms:
        if self._messages is None:
            sid = "DEV" + uuid.uuid4().hex
            _append_to_outbox(
                {
                    "sid": sid,
                    "at": now.isoformat(),
                    "from": from_,
                    "to": to,
                    "body": body,
                    "status_callback": self.callback,
                }
                | (outbox_extra or {})
            )
            return SentSms(sid, DeliveryStatus.DEV_OUTBOX)
        try:
            sent = self._messages.create(to=to, from_=from_, body=body, status_callback=self.callback)
        except TwilioRestException as exc:
            log.warning("sms refused to=%s http=%s code=%s", mask(to), exc.status, exc.code)
            raise SmsSendError(
                f"Twilio refused the message (HTTP {exc.status}, code {exc.code})", status=exc.status, code=exc.code
            ) from None
        except requests.RequestException as exc:
            maybe_sent = _may_have_arrived(exc)
            log.warning(
                "sms not sent to=%s: Twilio unreachable (%s, maybe_sent=%s)", mask(to), type(exc).__name__, maybe_sent
            )
            raise SmsSendError(
                f"Twilio could not be reached ({type(exc).__name__})", status=None, code=None, maybe_sent=maybe_sent
            ) from None
        if sent.sid is None:  # never seen: Twilio answers every accepted message with its SID
            raise SmsSendError("Twilio accepted the message without a SID", status=None, code=None, maybe_sent=True)
        return SentSms(sent.sid, str(sent.status or DeliveryStatus.QUEUED))


def _may_have_arrived(exc: requests.RequestException) -> bool:
    """Could Twilio have received the request? Only a failed connect proves it did not."""
    if isinstance(exc, requests.ConnectTimeout):
        return False
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return not isinstance(reason, urllib3.exceptions.ConnectTimeoutError)  # NewConnectionError is one


def find_sent(
    *, to: str, from_: str, body: str, since: datetime, settings: Settings | None = None, page_size: int = 50
) -> SentSms | None:
    """The message with exactly this body sent from `from_` to `to` at or after `since`, if any.

    Asks Twilio's Messages list filtered by To and From (newest first, one
    page), not by DateSent: a message still queued at Twilio has no date_sent
    yet and would be missed. The dev outbox is searched the same way.
    Raises SmsLookupUnavailable when the answer cannot be had.
    """
    settings = settings or get_settings()
    if uses_dev_outbox(settings):
        return _find_in_outbox(to=to, from_=from_, body=body, since=since)
    try:
        records = twilio_client(settings).messages.list(to=to, from_=from_, page_size=page_size, limit=page_size)
    except TwilioRestException as exc:
        raise SmsLookupUnavailable(f"Twilio refused the lookup (HTTP {exc.status}, code {exc.code})") from None
    except (requests.RequestException, TwilioException) as exc:
        raise SmsLookupUnavailable(f"Twilio could not be asked ({type(exc).__name__})") from None
    for record in records:
        created = record.date_created
        # Trial accounts prefix the body; anything else must match exactly.
        if record.sid and (record.body or "").endswith(body) and (created is None or created >= since):
            return SentSms(record.sid, str(record.status or DeliveryStatus.QUEUED))
    return None


def _append_to_outbox(entry: dict, path: Path | None = None) -> None:
    path = path or OUTBOX_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as outbox:
        outbox.write(json.dumps(entry) + "\n")


def _find_in_outbox(*, to: str, from_: str, body: str, since: datetime, path: Path | None = None) -> SentSms | None:
    path = path or OUTBOX_PATH
    if not path.exists():
        return None
    for line in reversed(path.read_text(encoding="utf-8").splitlines()):
        try:
            entry = json.loads(line)
            at = datetime.fromisoformat(entry["at"])
        except (ValueError, KeyError):
            continue
        if (entry.get("to"), entry.get("from"), entry.get("body")) == (to, from_, body) and at >= since:
            return SentSms(entry["sid"], DeliveryStatus.DEV_OUTBOX)
    return None
