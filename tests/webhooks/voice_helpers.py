"""Calls as Twilio makes them (signed form posts), and a check of every TwiML document we answer.

The checker holds the TwiML to what Twilio documents for Programmable Voice
(twilio.com/docs/voice/twiml: <Say>, <Gather>, <Dial> and <Number>, <Hangup>,
<Redirect>, <Pause>), narrowed to what Relay may use: no <Record> (calls are
never recorded) and no recording attributes on <Dial>.
"""

import re
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from twilio.request_validator import RequestValidator

from relay.core.settings import get_settings
from tests.webhooks.twilio_helpers import CLINIC_NUMBER

VOICE_PATH = "/webhooks/twilio/voice"

# Verbs allowed directly under <Response>, with the attributes Twilio documents for each.
VERB_ATTRIBUTES = {
    "Say": {"voice", "language", "loop"},
    "Gather": {
        "action", "actionOnEmptyResult", "enhanced", "finishOnKey", "hints", "input", "language", "method",
        "numDigits", "partialResultCallback", "partialResultCallbackMethod", "profanityFilter", "speechModel",
        "speechTimeout", "timeout",
    },
    "Dial": {
        "action", "answerOnBridge", "callerId", "callReason", "events", "hangupOnStar", "method", "record",
        "recordingStatusCallback", "recordingStatusCallbackEvent", "recordingStatusCallbackMethod", "recordingTrack",
        "referMethod", "referUrl", "ringTone", "sequential", "timeLimit", "timeout", "trim",
    },
    "Hangup": set(),
    "Redirect": {"method"},
    "Pause": {"length"},
}  # fmt: skip
GATHER_CHILDREN = {"Say", "Play", "Pause"}
DIAL_NOUNS = {"Number", "Client", "Conference", "Queue", "Sip", "Sim", "Application"}
NUMBER_ATTRIBUTES = {
    "sendDigits",
    "url",
    "method",
    "statusCallback",
    "statusCallbackEvent",
    "statusCallbackMethod",
    "byoc",
}
# Relay's own rule on top of Twilio's: no recordings of any kind.
NO_RECORDING = {"record", "recordingStatusCallback", "recordingStatusCallbackEvent", "recordingStatusCallbackMethod",
                "recordingTrack", "trim"}  # fmt: skip
# Verbs after which nothing else in the document runs.
FINAL_VERBS = {"Gather", "Dial", "Hangup", "Redirect"}
SAY_MAX_CHARS = 4096
E164 = re.compile(r"^\+[1-9]\d{7,14}$")


def _positive_int(value: str) -> bool:
    return value.isdigit() and int(value) > 0


def _check_url(value: str, where: str) -> None:
    # Twilio signs the URL it calls; ours must be the public base so signatures check out.
    base = get_settings().base_url
    assert value.startswith(base + "/webhooks/twilio/voice"), f"{where}: {value!r} is not one of our voice webhooks"
    assert urlsplit(value).scheme in ("http", "https")


def _check_attributes(element: ET.Element, allowed: set[str]) -> None:
    unknown = set(element.attrib) - allowed
    assert not unknown, f"<{element.tag}> has attributes Twilio does not document: {sorted(unknown)}"
    recording = set(element.attrib) & NO_RECORDING
    assert not recording, f"<{element.tag}> records the call: {sorted(recording)}"
    if "method" in element.attrib:
        assert element.attrib["method"] in ("GET", "POST")
    if "language" in element.attrib:
        assert re.fullmatch(r"[a-z]{2}-[A-Z]{2}", element.attrib["language"]), element.attrib["language"]


def _check_say(say: ET.Element) -> None:
    _check_attributes(say, VERB_ATTRIBUTES["Say"])
    assert len(say) == 0, "<Say> holds only text here (no SSML)"
    text = (say.text or "").strip()
    assert text, "an empty <Say>"
    assert len(text) <= SAY_MAX_CHARS, f"<Say> is {len(text)} characters"
    if "loop" in say.attrib:
        assert say.attrib["loop"].isdigit()


def _check_gather(gather: ET.Element) -> None:
    _check_attributes(gather, VERB_ATTRIBUTES["Gather"])
    attrs = gather.attrib
    inputs = attrs.get("input", "dtmf").split()
    assert inputs and set(inputs) <= {"dtmf", "speech"} and len(set(inputs)) == len(inputs), attrs.get("input")
    if "action" in attrs:
        _check_url(attrs["action"], "<Gather action>")
    if "actionOnEmptyResult" in attrs:
        assert attrs["actionOnEmptyResult"] in ("true", "false")
    if "speechTimeout" in attrs:
        assert attrs["speechTimeout"] == "auto" or _positive_int(attrs["speechTimeout"])
    for name in ("timeout", "numDigits"):
        if name in attrs:
            assert _positive_int(attrs[name]), f"{name}={attrs[name]!r}"
    if "hints" in attrs:
        assert all(0 < len(hint.strip()) <= 100 for hint in attrs["hints"].split(","))
    for child in gather:
        assert child.tag in GATHER_CHILDREN, f"<Gather> may not contain <{child.tag}>"
        if child.tag == "Say":
            _check_say(child)


def _check_dial(dial: ET.Element) -> None:
    _check_attributes(dial, VERB_ATTRIBUTES["Dial"])
    if "action" in dial.attrib:
        _check_url(dial.attrib["action"], "<Dial action>")
    if "timeout" in dial.attrib:
        assert 5 <= int(dial.attrib["timeout"]) <= 600
    nouns = list(dial)
    assert nouns or E164.match((dial.text or "").strip()), "<Dial> dials nothing"
    for noun in nouns:
        assert noun.tag in DIAL_NOUNS, f"<Dial> may not contain <{noun.tag}>"
        if noun.tag == "Number":
            _check_attributes(noun, NUMBER_ATTRIBUTES)
            assert E164.match((noun.text or "").strip()), f"<Number> {noun.text!r} is not E.164"


def check_twiml(xml: str) -> ET.Element:
    """Parse a voice TwiML document and assert it is one Twilio documents; return its root."""
    assert xml.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    root = ET.fromstring(xml)
    assert root.tag == "Response" and not root.attrib
    assert not (root.text or "").strip(), "text directly under <Response>"
    verbs = list(root)
    assert verbs, "an empty <Response> leaves the caller in silence"
    for position, verb in enumerate(verbs):
        assert verb.tag in VERB_ATTRIBUTES, f"<{verb.tag}> is not a verb Relay may use under <Response>"
        if verb.tag in FINAL_VERBS:
            assert position == len(verbs) - 1, f"verbs after <{verb.tag}> would never run"
        {"Say": _check_say, "Gather": _check_gather, "Dial": _check_dial}.get(
            verb.tag, lambda v: _check_attributes(v, VERB_ATTRIBUTES[v.tag])
        )(verb)
        if verb.tag == "Hangup":
            assert len(verb) == 0 and not (verb.text or "").strip()
    assert root.find(".//Record") is None
    return root


@dataclass
class Twiml:
    """What a TwiML answer does, read back from the document."""

    root: ET.Element
    xml: str

    @property
    def says(self) -> list[str]:
        return [(say.text or "").strip() for say in self.root.iter("Say")]

    @property
    def said(self) -> str:
        return " ".join(self.says)

    @property
    def gather(self) -> ET.Element | None:
        return self.root.find("Gather")

    @property
    def dialed(self) -> str | None:
        number = self.root.find("Dial/Number")
        return (number.text or "").strip() if number is not None else None

    @property
    def hangs_up(self) -> bool:
        return self.root.find("Hangup") is not None

    @property
    def next_turn_url(self) -> str:
        assert self.gather is not None, f"no <Gather> in {self.xml}"
        return self.gather.attrib["action"]


def signed_post(client, url: str, params: dict[str, str], *, token: str | None = None):
    """POST form parameters to one of our public URLs, signed as Twilio signs them."""
    settings = get_settings()
    params = {k: v for k, v in params.items() if v is not None}
    validator = RequestValidator(token or settings.twilio_auth_token.get_secret_value())
    signature = validator.compute_signature(url, params)
    path = url.removeprefix(settings.base_url)
    return client.post(path, data=params, headers={"X-Twilio-Signature": signature})


def call_params(call_sid: str, from_phone: str | None, **extra: str | None) -> dict[str, str | None]:
    settings = get_settings()
    return {
        "CallSid": call_sid,
        "AccountSid": settings.twilio_account_sid,
        "From": from_phone,
        "To": CLINIC_NUMBER,
        "CallStatus": "in-progress",
        "Direction": "inbound",
        "ApiVersion": "2010-04-01",
        **extra,
    }


def new_call_sid() -> str:
    return "CA" + uuid.uuid4().hex


@dataclass
class Caller:
    """One phone calling the clinic through the signed webhooks; checks and keeps every TwiML answer."""

    client: object
    phone: str | None
    call_sid: str = field(default_factory=new_call_sid)
    answers: list[Twiml] = field(default_factory=list)

    def _post(self, url: str, **extra: str | None) -> Twiml:
        response = signed_post(self.client, url, call_params(self.call_sid, self.phone, **extra))
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/xml")
        answer = Twiml(check_twiml(response.text), response.text)
        self.answers.append(answer)
        return answer

    @property
    def last(self) -> Twiml:
        return self.answers[-1]

    def dial_in(self) -> Twiml:
        return self._post(get_settings().base_url + VOICE_PATH)

    def say(self, speech: str, confidence: float = 0.92) -> Twiml:
        return self._post(self.last.next_turn_url, SpeechResult=speech, Confidence=str(confidence))

    def press(self, digits: str) -> Twiml:
        return self._post(self.last.next_turn_url, Digits=digits)

    def stay_silent(self) -> Twiml:
        return self._post(self.last.next_turn_url)

    def retry_last_turn(self, **extra: str | None) -> Twiml:
        """Twilio posting the same turn again."""
        return self._post(self.answers[-2].next_turn_url, **extra)

    def dial_ends(self, dial_status: str) -> Twiml:
        dial = self.last.root.find("Dial")
        assert dial is not None, "no <Dial> to end"
        return self._post(dial.attrib["action"], DialCallStatus=dial_status, DialCallSid="CA" + uuid.uuid4().hex)

    def hang_up(self, duration: int) -> int:
        url = get_settings().base_url + VOICE_PATH + "/status"
        params = call_params(self.call_sid, self.phone, CallStatus="completed", CallDuration=str(duration))
        return signed_post(self.client, url, params).status_code
