"""GSM-7: the SMS alphabet. One character outside it (a curly quote, an emoji)
switches the whole message to UCS-2 and its segments from 160 to 70 characters."""

import math

_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_EXTENDED = "^{}\\[~]|€\f"  # cost two septets each
GSM7 = frozenset(_BASIC) | frozenset(_EXTENDED)


def non_gsm_characters(text: str) -> list[str]:
    return sorted({ch for ch in text if ch not in GSM7})


def is_gsm7(text: str) -> bool:
    return not non_gsm_characters(text)


def segments(text: str) -> int:
    """How many SMS segments the text takes (153 septets each once it is split)."""
    if not is_gsm7(text):
        units = len(text.encode("utf-16-le")) // 2
        return 1 if units <= 70 else math.ceil(units / 67)
    septets = sum(2 if ch in _EXTENDED else 1 for ch in text)
    return 1 if septets <= 160 else math.ceil(septets / 153)
