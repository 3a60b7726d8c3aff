"""Yes and no, as patients text them in English and Spanish."""

import pytest

from relay.inbound.answers import yes_or_no


@pytest.mark.parametrize(
    "text", ["yes", "Yes please", "yeah sure", "si", "Sí", "SI!", "claro", "si, por favor", "dale"]
)
def test_yes(text):
    assert yes_or_no(text) is True


@pytest.mark.parametrize("text", ["no", "No thanks", "nope", "no gracias", "mejor no", "ahorita no", "nah"])
def test_no(text):
    assert yes_or_no(text) is False


@pytest.mark.parametrize("text", ["maybe", "what time is it", "quizás", "next tuesday", ""])
def test_neither(text):
    assert yes_or_no(text) is None


def test_the_models_reading_counts_first():
    assert yes_or_no("absolutely", "affirm") is True
    assert yes_or_no("I'd rather not", "deny") is False
