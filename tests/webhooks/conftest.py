import pytest

from relay.core.settings import get_settings


@pytest.fixture
def keyword_replies(monkeypatch):
    """Set SMS_KEYWORD_REPLIES ("twilio" or "relay") for the test: `keyword_replies("twilio")`."""

    def choose(value: str) -> None:
        monkeypatch.setenv("SMS_KEYWORD_REPLIES", value)
        get_settings.cache_clear()

    yield choose
    get_settings.cache_clear()


@pytest.fixture
def relay_answers_keywords(keyword_replies):
    keyword_replies("relay")


@pytest.fixture
def twilio_answers_keywords(keyword_replies):
    keyword_replies("twilio")
