"""Console passwords: argon2id at argon2-cffi's standard cost; the cheap test cost never applies in production."""

from argon2 import Parameters, Type, extract_parameters

from relay.core.settings import Settings
from relay.staff import accounts
from relay.staff.accounts import _hasher_for


def test_the_standard_cost_is_argon2_cffis_default_and_the_test_cost_the_same_algorithm():
    standard = extract_parameters(_hasher_for("standard").hash("correct horse battery staple"))
    assert standard.type is Type.ID and (standard.time_cost, standard.memory_cost) == (3, 65536)
    cheap: Parameters = extract_parameters(_hasher_for("test").hash("correct horse battery staple"))
    assert cheap.type is Type.ID and cheap.memory_cost < standard.memory_cost


def test_production_hashes_at_the_standard_cost_whatever_the_setting(monkeypatch):
    monkeypatch.setenv("RELAY_ENV", "production")
    monkeypatch.setenv("CONSOLE_PASSWORD_COST", "test")
    monkeypatch.setattr(accounts, "get_settings", lambda: Settings(_env_file=None, relay_env="production",
        console_password_cost="test", twilio_account_sid="AC" + "2" * 32, twilio_auth_token="real-token",
        api_token="real-api-token"))  # fmt: skip
    assert accounts._hasher() is _hasher_for("standard")
