"""`relay chat`: talk to the running stack from a terminal, as Twilio would.

Every line you type is posted to the SMS webhook as a properly signed Twilio
request, so the whole real path runs: signature check, dedupe, storage, Rasa,
actions, TwiML.
"""

import uuid
import xml.etree.ElementTree as ET

import httpx
from twilio.request_validator import RequestValidator

from relay.core.settings import get_settings

SMS_PATH = "/webhooks/twilio/sms"


def signed_sms_request(*, from_phone: str, to_phone: str, body: str, sid: str | None = None) -> tuple[dict, dict]:
    """Form parameters and headers for one inbound SMS, signed as Twilio signs it."""
    settings = get_settings()
    params = {
        "MessageSid": sid or "SM" + uuid.uuid4().hex,
        "AccountSid": settings.twilio_account_sid,
        "From": from_phone,
        "To": to_phone,
        "Body": body,
        "NumMedia": "0",
    }
    validator = RequestValidator(settings.twilio_auth_token.get_secret_value())
    signature = validator.compute_signature(settings.base_url + SMS_PATH, params)
    return params, {"X-Twilio-Signature": signature}


def replies_from_twiml(twiml: str) -> list[str]:
    root = ET.fromstring(twiml)
    return [(element.findtext("Body") or element.text or "").strip() for element in root.iter("Message")]


def chat(*, from_phone: str, to_phone: str, api_url: str) -> None:
    print(f"Texting the clinic as {from_phone}. Empty line or Ctrl-D to stop.")
    with httpx.Client(base_url=api_url, timeout=30) as client:
        while True:
            try:
                line = input("you> ").strip()
            except (EOFError, KeyboardInterrupt):
                print()
                return
            if not line:
                return
            params, headers = signed_sms_request(from_phone=from_phone, to_phone=to_phone, body=line)
            response = client.post(SMS_PATH, data=params, headers=headers)
            if response.status_code != 200:
                print(f"[webhook answered {response.status_code}: {response.text}]")
                continue
            for reply in replies_from_twiml(response.text) or ["[no reply]"]:
                print(f"bot> {reply}")
