"""Console passwords: argon2id at argon2-cffi's standard cost, the cheap test cost refused in production."""

import pytest
from argon2 import Parameters, Type, extract_parameters
from pydantic import ValidationError

from relay.core.settings import Settings
from relay.staff.accounts import _hasher_for


def test_the_standard_cost_is_argon2_cffis_default_and_the_test_cost_the_same_algorithm():
    standard = extract_parameters(_hasher_for("standard").hash("correct horse battery staple"))
    assert standard.type is Type.ID and (standard.time_cost, standard.memory_cost) == (3, 65536)
    cheap: Parameters = extract_parameters(_hasher_for("test").hash("correct horse battery staple"))
    assert cheap.type is Type.ID and cheap.memory_cost < standard.memory_cost


def test_production_refuses_the_test_cost(monkeypatch):
    monkeypatch.setenv("RELAY_ENV", "production")
    monkeypatch.setenv("CONSOLE_PASSWORD_COST", "test")
    with pytest.raises(ValidationError, match="CONSOLE_PASSWORD_COST"):
        Settings()
