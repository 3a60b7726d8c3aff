"""Voice turn latency: our signed `<Gather>` turn webhook against a bare Rasa round trip.

Each script cycle is one phone call: the incoming-call webhook (untimed: it
greets without the model), then one timed turn per line of the script, posted
as Twilio posts a `<Gather>` result (SpeechResult and Confidence, or Digits
for the keypad date of birth). The baseline posts the same words straight to
Rasa's `voice` channel with the conversation's opaque id, converted exactly as
our turn converts them (keypad digits to a date, "number two" to "2"), so the
difference is ours: signature check, claim of the turn, pre-model checks,
persistence, TwiML.
"""

import uuid

import httpx
from twilio.request_validator import RequestValidator

from bench.sms import CLINIC_NUMBER
from relay.core.settings import get_settings
from relay.inbound.voice_turns import RASA_DOWN, RASA_SLOW, Heard
from webhooks.voice import TURN_PATH, VOICE_PATH

# The date of birth by keypad (MMDDYYYY); everything else spoken.
VOICE_SCRIPT = (
    "when is my appointment",
    "09031957",
    "where do i park",
    "can i reschedule",
    "next tuesday afternoon",
    "no",
)
SPEECH_CONFIDENCE = "0.92"


def gather_fields(text: str) -> dict[str, str]:
    """What Twilio posts for a `<Gather>` result carrying `text`."""
    if text.isdigit():
        return {"Digits": text, "SpeechResult": ""}
    return {"SpeechResult": text, "Confidence": SPEECH_CONFIDENCE}


class VoiceWebhook:
    """Posts signed Twilio voice webhooks, one call per script cycle."""

    script = VOICE_SCRIPT

    def __init__(self, api_url: str, auth_token: str) -> None:
        self.api_url = api_url
        self.validator = RequestValidator(auth_token)
        self.client = httpx.Client(timeout=60, limits=httpx.Limits(max_connections=64))
        self.calls: dict[str, tuple[str, int]] = {}  # phone -> (CallSid, turns taken)

    def _post(self, path: str, params: dict[str, str]) -> httpx.Response:
        url = self.api_url + path
        headers = {"X-Twilio-Signature": self.validator.compute_signature(url, params)}
        return self.client.post(url, data=params, headers=headers)

    def _call_fields(self, phone: str, sid: str) -> dict[str, str]:
        return {"CallSid": sid, "From": phone, "To": CLINIC_NUMBER, "AccountSid": "AC" + "0" * 32,
                "Direction": "inbound", "CallStatus": "in-progress"}  # fmt: skip

    def begin_cycle(self, phone: str) -> None:
        sid = "CA" + uuid.uuid4().hex
        response = self._post(VOICE_PATH, self._call_fields(phone, sid) | {"CallStatus": "ringing"})
        if response.status_code != 200 or "<Gather" not in response.text:
            raise RuntimeError(f"the incoming call was not greeted ({response.status_code})")
        self.calls[phone] = (sid, 0)

    def __call__(self, phone: str, text: str) -> bool:
        sid, taken = self.calls[phone]
        turn = taken + 1
        self.calls[phone] = (sid, turn)
        response = self._post(f"{TURN_PATH}?turn={turn}", self._call_fields(phone, sid) | gather_fields(text))
        # The apologies for a slow or failed Rasa are errors, not answers.
        return (
            response.status_code == 200
            and "<Say" in response.text
            and not any(apology.split(".")[0] in response.text for apology in (RASA_DOWN, RASA_SLOW))
        )


class BareVoiceRasa:
    """The same turns straight to Rasa's voice channel, in the words our turn would send."""

    script = VOICE_SCRIPT

    def __init__(self, rasa_url: str) -> None:
        self.url = f"{rasa_url}/webhooks/voice/webhook"
        self.client = httpx.Client(timeout=60, limits=httpx.Limits(max_connections=64))
        self.senders: dict[str, str] = {}

    def __call__(self, phone: str, text: str) -> bool:
        fields = gather_fields(text)
        heard = Heard.from_gather(
            speech=fields["SpeechResult"],
            confidence=float(fields.get("Confidence", 1)),
            digits=fields.get("Digits", ""),
            min_confidence=get_settings().voice_min_confidence,
        )
        response = self.client.post(
            self.url, json={"sender": self.senders[phone], "message": heard.for_rasa(), "metadata": {}}
        )
        return response.status_code == 200 and bool(response.json())
