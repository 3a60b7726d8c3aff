import pytest
from pydantic import ValidationError

from relay.core.settings import Settings, usable_cores


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


def test_each_rasa_replica_listens_on_the_port_after_the_previous_one():
    settings = Settings(_env_file=None, rasa_url="http://127.0.0.1:5005/", rasa_replicas=3)
    assert settings.rasa_urls == ["http://127.0.0.1:5005", "http://127.0.0.1:5006", "http://127.0.0.1:5007"]
    assert Settings(_env_file=None, rasa_url="http://127.0.0.1:5005").rasa_urls == ["http://127.0.0.1:5005"]


def test_replicas_and_workers_come_from_the_environment(monkeypatch):
    chosen = {"RASA_REPLICAS": "2", "RASA_WORKERS": "3", "ACTION_SERVER_WORKERS": "5", "API_WORKERS": "7"}
    for name, value in chosen.items():
        monkeypatch.setenv(name, value)
    settings = Settings(_env_file=None)
    assert (settings.rasa_replicas, settings.rasa_worker_count) == (2, 3)
    assert (settings.action_server_worker_count, settings.api_worker_count) == (5, 7)


def test_unset_workers_follow_the_cores(monkeypatch):
    for name in ("RASA_REPLICAS", "RASA_WORKERS", "ACTION_SERVER_WORKERS", "API_WORKERS"):
        monkeypatch.delenv(name, raising=False)
    cores = usable_cores()
    one = Settings(_env_file=None)
    assert one.rasa_worker_count == cores  # Rasa is where a turn's time goes: a worker per core
    assert one.action_server_worker_count == one.rasa_worker_count
    assert one.api_worker_count == min(cores, 4)
    # Replicas on one machine share its cores out.
    assert Settings(_env_file=None, rasa_replicas=2).rasa_worker_count == max(1, cores // 2)
    assert Settings(_env_file=None, rasa_replicas=cores + 1).rasa_worker_count == 1


def test_no_replicas_or_workers_is_refused():
    for field in ("rasa_replicas", "rasa_workers", "action_server_workers", "api_workers"):
        with pytest.raises(ValidationError):
            Settings(_env_file=None, **{field: 0})
