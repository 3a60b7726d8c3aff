"""What staff see while typing a text: its length, its SMS segments, and the characters that are not GSM-7.

One owner for the counting (relay.language.gsm) whether the text is a reply in a
takeover or an FAQ answer being edited; the page asks the server as the person
types (htmx), so the browser never carries a second copy of the rules.
"""

from dataclasses import dataclass

from relay.language.gsm import non_gsm_characters, segments

# A reply longer than this is refused anyway (Twilio's limit is 1600 characters).
MAX_REPLY_CHARACTERS = 1600


@dataclass(frozen=True)
class SmsMeter:
    characters: int
    segments: int
    gsm7: bool
    outside_gsm7: list[str]  # each character once, as typed

    @property
    def per_segment(self) -> int:
        """Characters per segment for this encoding once a text is split."""
        return 153 if self.gsm7 else 67

    @property
    def summary(self) -> str:
        if self.characters == 0:
            return "Empty"
        encoding = "GSM-7" if self.gsm7 else "Unicode (UCS-2): fewer characters per segment"
        plural = "s" if self.segments != 1 else ""
        return f"{self.characters} characters · {self.segments} SMS segment{plural} · {encoding}"


def measure(text: str) -> SmsMeter:
    outside = non_gsm_characters(text)
    return SmsMeter(characters=len(text), segments=segments(text) if text else 0, gsm7=not outside,
                    outside_gsm7=outside)  # fmt: skip
