"""bot/faq_selector.py on the trained model: the FAQ topic for FAQ questions, nothing for the rest."""

import httpx
import pytest

from relay.core.settings import get_settings


def parse(text: str) -> dict:
    response = httpx.post(f"{get_settings().rasa_url}/model/parse", json={"text": text}, timeout=30)
    response.raise_for_status()
    return response.json()


@pytest.mark.rasa
@pytest.mark.parametrize(
    ("text", "topic"),
    [("where do I park?", "parking"), ("what are your hours", "hours"), ("donde me estaciono", "parking")],
)
def test_a_faq_question_gets_its_topic(rasa_stack, text, topic):
    parsed = parse(text)
    assert parsed["intent"]["name"] == "ask_faq"
    chosen = parsed["response_selector"]["default"]["response"]
    assert chosen["intent_response_key"] == f"ask_faq/{topic}"
    # Rasa's processor adds the full retrieval intent from the selector's output, as before.
    assert parsed["response_selector"]["all_retrieval_intents"] == ["ask_faq"]


@pytest.mark.rasa
@pytest.mark.parametrize("text", ["yes", "I want to reschedule", "hola", "March 3 1990"])
def test_other_messages_skip_the_selector(rasa_stack, text):
    parsed = parse(text)
    assert "ask_faq" not in parsed["intent"]["name"].split("+")
    assert "response_selector" not in parsed
    assert parsed["intent"]["confidence"] > 0  # the rest of the pipeline ran
