"""Phone numbers: parse what people type into E.164, and mask them for logs."""

import phonenumbers


class InvalidPhoneNumber(ValueError):
    pass


def to_e164(raw: str, region: str = "US") -> str:
    """Normalise a number as staff or Twilio write it; raise on anything not dialable."""
    try:
        parsed = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber(f"not a phone number: {exc}") from None
    # is_possible rather than is_valid: the demo uses the 555-01xx fiction range,
    # which libphonenumber rightly calls unassigned but Twilio still delivers to.
    if not phonenumbers.is_possible_number(parsed):
        raise InvalidPhoneNumber("not a possible phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def mask(phone: str | None) -> str:
    """Keep only the last two digits: enough to tell numbers apart in a log."""
    if not phone:
        return "-"
    return "*" * max(len(phone) - 2, 0) + phone[-2:]


def pretty(e164: str) -> str:
    """A number as a patient reads it: (312) 555-0100 for US numbers."""
    parsed = phonenumbers.parse(e164, None)
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)


def masked_pretty(phone: str, *, visible: int = 2) -> str:
    """The number in the shape a person reads it, all but its last `visible` digits hidden: (***) ***-**45.

    For pages that must tell numbers apart without showing them (the console shows the last four: visible=4).
    """
    try:
        shown = pretty(phone)
    except phonenumbers.NumberParseException:  # not a number libphonenumber can format: the plain mask
        return "*" * max(len(phone) - visible, 0) + phone[-visible:]
    hidden = sum(char.isdigit() for char in shown) - visible
    out = []
    for char in shown:
        if char.isdigit() and hidden > 0:
            out.append("*")
            hidden -= 1
        else:
            out.append(char)
    return "".join(out)
