import pytest
from pydantic import ValidationError

from relay.core.settings import Settings


def test_dev_defaults_work_without_any_environment(monkeypatch):
    for name in ("DATABASE_URL", "TWILIO_AUTH_TOKEN", "API_TOKEN", "PUBLIC_BASE_URL", "API_PORT"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(_env_file=None)
    assert settings.database_url.startswith("sqlite:///")
    assert settings.base_url == "http://127.0.0.1:8000"


def test_production_refuses_placeholder_secrets(monkeypatch):
    for name in ("TWILIO_AUTH_TOKEN", "API_TOKEN", "TWILIO_ACCOUNT_SID", "PUBLIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValidationError) as excinfo:
        Settings(_env_file=None, relay_env="production")
    message = str(excinfo.value)
    for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "API_TOKEN", "PUBLIC_BASE_URL"):
        assert name in message


def test_production_starts_with_real_values():
    settings = Settings(
        _env_file=None,
        relay_env="production",
        twilio_account_sid="AC" + "9" * 32,
        twilio_auth_token="real-token",
        api_token="real-api-token",
        public_base_url="https://relay.clinic.example/",
    )
    assert settings.is_production
    assert settings.base_url == "https://relay.clinic.example"
