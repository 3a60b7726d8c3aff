"""Be a patient's phone: the requests Twilio would send, signed as Twilio signs them, posted to the real webhooks.

The requests go through the whole app in-process (ASGI): middleware, the
signature check, the webhook, the turn handler, Rasa. Nothing is faked on the
way, so what the simulator shows is what a real phone would get; and nothing
reaches a real phone, because the simulator is the phone. The TwiML answers
are read back here: `<Message>` for texts; `<Say>`, `<Gather>`, `<Dial>`,
`<Redirect>` and `<Hangup>` for calls.

The next URL of a call comes from the TwiML (or from a hidden form field that
carried it): it is followed only when it is one of the app's own voice
webhooks under PUBLIC_BASE_URL, so the simulator can never be pointed at
another host or another route.
"""

import contextlib
import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Collection
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import httpx
from starlette.types import ASGIApp
from twilio.request_validator import RequestValidator

from relay.core.settings import get_settings
from relay.language.gsm import segments

SMS_PATH = "/webhooks/twilio/sms"
VOICE_PATH = "/webhooks/twilio/voice"
STATUS_PATH = VOICE_PATH + "/status"
# Where a call's TwiML may send the next request (the call's start, a <Gather> result, a <Dial> result).
CALL_PATHS = frozenset({VOICE_PATH, VOICE_PATH + "/turn", VOICE_PATH + "/dial"})
# The in-process requests need some host name; nothing resolves it.
INTERNAL_BASE = "http://simulator.internal"
API_VERSION = "2010-04-01"
# Recognised speech comes with a confidence; typed words are heard perfectly, as a clear voice would be.
TYPED_SPEECH_CONFIDENCE = "0.95"
# A <Redirect> loop is the app's bug, not a call: stop after this many.
MAX_REDIRECTS = 5
MAX_SMS_CHARACTERS = 1600  # Twilio's limit for one message body
CALL_SID = re.compile(r"^CA[0-9a-f]{32}$")
DIAL_STATUSES = ("completed", "no-answer", "busy", "failed")


class NotOurWebhook(ValueError):
    """A URL the simulator will not post to: another host, another route, or not a URL at all."""


def new_message_sid() -> str:
    return "SM" + uuid.uuid4().hex


def new_call_sid() -> str:
    return "CA" + uuid.uuid4().hex


def sms_params(*, from_phone: str, to_phone: str, body: str, message_sid: str | None = None) -> dict[str, str]:
    """The form Twilio posts for one inbound text without media."""
    sid = message_sid or new_message_sid()
    return {
        "ToCountry": "US",
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "SmsSid": sid,
        "SmsStatus": "received",
        "Body": body,
        "To": to_phone,
        "NumSegments": str(segments(body)),
        "MessageSid": sid,
        "AccountSid": get_settings().twilio_account_sid,
        "From": from_phone,
        "ApiVersion": API_VERSION,
    }


def call_params(*, call_sid: str, from_phone: str, to_phone: str, status: str = "in-progress",
                **extra: str) -> dict[str, str]:  # fmt: skip
    """The form Twilio posts for an inbound call's webhooks (plus what the step adds: SpeechResult, Digits...)."""
    return {
        "CallSid": call_sid,
        "AccountSid": get_settings().twilio_account_sid,
        "From": from_phone,
        "Caller": from_phone,
        "To": to_phone,
        "Called": to_phone,
        "CallStatus": status,
        "Direction": "inbound",
        "ApiVersion": API_VERSION,
        **extra,
    }


def signature(url: str, params: dict[str, str]) -> str:
    """X-Twilio-Signature for a POST of `params` to the public `url`, computed by the twilio library itself."""
    validator = RequestValidator(get_settings().twilio_auth_token.get_secret_value())
    return validator.compute_signature(url, params)


def public_url(path: str) -> str:
    return get_settings().base_url + path


def webhook_url(target: str, *, current: str, allowed: Collection[str]) -> str:
    """The absolute public URL of `target` (absolute, or relative to the `current` URL as Twilio reads it),
    when it is one of the `allowed` webhook paths under PUBLIC_BASE_URL; otherwise NotOurWebhook."""
    base = get_settings().base_url
    absolute = urljoin(current, target.strip())
    if not absolute.startswith(base + "/"):
        raise NotOurWebhook("not under PUBLIC_BASE_URL")
    rest = urlsplit(absolute[len(base) :])
    if rest.scheme or rest.netloc or rest.fragment or rest.path not in allowed:
        raise NotOurWebhook("not one of the webhooks a call may reach")
    return absolute


async def post(app: ASGIApp, *, url: str, params: dict[str, str]) -> httpx.Response:
    """POST the signed form to the public `url`, through the app in-process (no network, no port)."""
    base = get_settings().base_url
    if not url.startswith(base + "/"):
        raise NotOurWebhook("not under PUBLIC_BASE_URL")
    headers = {"X-Twilio-Signature": signature(url, params), "User-Agent": "TwilioProxy/1.1 (Relay simulator)"}
    # The bot may take up to its Rasa timeout; a little more for the database and the TwiML.
    timeout = max(get_settings().rasa_timeout_seconds, get_settings().voice_rasa_timeout_seconds) + 15
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=INTERNAL_BASE, timeout=timeout) as client:
        return await client.post(url[len(base) :], data=params, headers=headers)


# --- texts -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Texted:
    """One text sent to the SMS webhook and what it answered."""

    status_code: int
    replies: list[str]  # the bodies of the TwiML <Message> elements, in order
    twiml: str  # the answer as received, for whoever wants to see the wire
    error: str | None = None


async def send_text(app: ASGIApp, *, from_phone: str, to_phone: str, body: str) -> Texted:
    params = sms_params(from_phone=from_phone, to_phone=to_phone, body=body)
    response = await post(app, url=public_url(SMS_PATH), params=params)
    if response.status_code != 200:
        return Texted(response.status_code, [], response.text, error=_refused(response))
    try:
        return Texted(200, message_bodies(response.text), response.text)
    except ET.ParseError:
        return Texted(200, [], response.text, error="The webhook's answer is not TwiML.")


def message_bodies(twiml: str) -> list[str]:
    """The texts a messaging TwiML answer sends back (`<Message>text</Message>` or `<Message><Body>`)."""
    root = ET.fromstring(twiml)
    return [(element.findtext("Body") or element.text or "").strip() for element in root.iter("Message")]


def _refused(response: httpx.Response) -> str:
    detail = ""
    with contextlib.suppress(ValueError, AttributeError):  # not JSON, or JSON without a detail
        detail = str(response.json().get("detail", ""))
    return f"The webhook answered {response.status_code}" + (f": {detail}" if detail else "") + "."


# --- calls -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallStep:
    """What one voice TwiML answer does: the words spoken, then what the call does next."""

    says: list[str]
    listen_url: str | None = None  # a <Gather>: where its result goes (absolute)
    listens_for: tuple[str, ...] = ()  # "speech", "dtmf"
    dialled: str | None = None  # a <Dial>: the number put through to
    dial_url: str | None = None  # where Twilio posts when the <Dial> ends (None: the document goes on)
    redirect_url: str | None = None
    hangs_up: bool = False

    @property
    def ended(self) -> bool:
        """Nothing more happens: a <Hangup>, or the end of the document (where Twilio hangs up too)."""
        return self.listen_url is None and self.dialled is None and self.redirect_url is None


def read_call_twiml(twiml: str, *, current: str) -> CallStep:
    """Read a voice TwiML document as Twilio runs it, top to bottom, up to the verb that ends it.

    Relative URLs are read against `current`, the URL of the request that got this answer; a
    <Gather> or <Dial> without an action goes back to it (Gather) or on with the document (Dial).
    """
    root = ET.fromstring(twiml)
    says: list[str] = []
    for verb in root:
        if verb.tag == "Say":
            _say(says, verb)
        elif verb.tag == "Gather":
            for child in verb:
                if child.tag == "Say":
                    _say(says, child)
            inputs = tuple(verb.attrib.get("input", "dtmf").split())
            return CallStep(says, listen_url=urljoin(current, verb.attrib.get("action", current)), listens_for=inputs)
        elif verb.tag == "Dial":
            number = (verb.findtext("Number") or verb.text or "").strip()
            action = verb.attrib.get("action")
            return CallStep(says, dialled=number or "?", dial_url=urljoin(current, action) if action else None)
        elif verb.tag == "Redirect":
            return CallStep(says, redirect_url=urljoin(current, (verb.text or "").strip()))
        elif verb.tag == "Hangup":
            return CallStep(says, hangs_up=True)
    return CallStep(says)


def _say(says: list[str], element: ET.Element) -> None:
    text = " ".join((element.text or "").split())
    if text:
        says.append(text)


@dataclass
class CallAnswer:
    """What the caller heard after one request of theirs (and any <Redirect> it led to)."""

    says: list[str] = field(default_factory=list)
    step: CallStep | None = None  # the last document's step; None when the webhook refused
    error: str | None = None


async def call_webhook(app: ASGIApp, *, url: str, params: dict[str, str]) -> CallAnswer:
    """POST one call request to `url` (already checked), then follow <Redirect>s as Twilio does."""
    answer = CallAnswer()
    for _ in range(MAX_REDIRECTS + 1):
        response = await post(app, url=url, params=params)
        if response.status_code != 200:
            answer.error = _refused(response)
            return answer
        try:
            step = read_call_twiml(response.text, current=url)
        except ET.ParseError:
            answer.error = "The webhook's answer is not TwiML."
            return answer
        answer.says += step.says
        answer.step = step
        if step.redirect_url is None:
            return answer
        try:
            url = webhook_url(step.redirect_url, current=url, allowed=CALL_PATHS)
        except NotOurWebhook as exc:
            answer.error = f"The call was redirected somewhere the simulator does not follow ({exc})."
            return answer
    answer.error = f"More than {MAX_REDIRECTS} redirects in a row: stopped."
    return answer


async def end_call(app: ASGIApp, *, call_sid: str, from_phone: str, to_phone: str, duration: int) -> int:
    """Twilio's status callback for a call that ended; the status code the webhook answered."""
    params = call_params(
        call_sid=call_sid, from_phone=from_phone, to_phone=to_phone, status="completed", CallDuration=str(duration)
    )
    response = await post(app, url=public_url(STATUS_PATH), params=params)
    return response.status_code
