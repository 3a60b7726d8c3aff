"""Twilio request signatures, checked on every webhook in every mode."""

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from twilio.request_validator import RequestValidator

from relay.core.settings import get_settings


async def verified_twilio_form(request: Request) -> dict[str, str]:
    """The webhook's form parameters, once the X-Twilio-Signature proves Twilio sent them.

    The URL Twilio signed is the public one (PUBLIC_BASE_URL), not the one we
    see behind a proxy, so it is rebuilt from settings plus path and query.
    """
    settings = get_settings()
    form = await request.form()
    params = {key: value for key, value in form.multi_items() if isinstance(value, str)}
    url = settings.base_url + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    signature = request.headers.get("X-Twilio-Signature", "")
    validator = RequestValidator(settings.twilio_auth_token.get_secret_value())
    if not signature or not validator.validate(url, params, signature):
        raise HTTPException(status_code=403, detail="invalid or missing X-Twilio-Signature")
    return params


TwilioFormDep = Annotated[dict[str, str], Depends(verified_twilio_form)]
