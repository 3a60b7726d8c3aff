"""Build inbound Twilio webhook requests signed with the twilio library's own code."""

import xml.etree.ElementTree as ET

from relay.ops.chat import signed_sms_request

CLINIC_NUMBER = "+13125550100"


def post_sms(client, *, from_phone: str, body: str, sid: str | None = None, **overrides):
    params, headers = signed_sms_request(from_phone=from_phone, to_phone=CLINIC_NUMBER, body=body, sid=sid)
    params.update(overrides)
    if overrides:  # re-sign what is actually sent
        from twilio.request_validator import RequestValidator

        from relay.core.settings import get_settings

        settings = get_settings()
        validator = RequestValidator(settings.twilio_auth_token.get_secret_value())
        params = {k: v for k, v in params.items() if v is not None}
        headers = {
            "X-Twilio-Signature": validator.compute_signature(settings.base_url + "/webhooks/twilio/sms", params)
        }
    return client.post("/webhooks/twilio/sms", data=params, headers=headers)


def twiml_messages(response) -> list[str]:
    assert response.headers["content-type"].startswith("application/xml")
    root = ET.fromstring(response.text)
    assert root.tag == "Response"
    return [element.text or "" for element in root.iter("Message")]
