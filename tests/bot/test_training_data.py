"""The training data is valid, and the model follows the conversation test stories."""

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from relay.core.settings import PROJECT_ROOT

pytestmark = pytest.mark.rasa
RASA = str(PROJECT_ROOT / ".venv-rasa" / "bin" / "rasa")
ENV = os.environ | {"RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "2"}


def test_rasa_data_validate_is_clean():
    result = subprocess.run(
        [RASA, "data", "validate", "--domain", "bot/intents", "--data", "data", "--config", "bot/config.yml"],
        cwd=PROJECT_ROOT, env=ENV, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "No story structure conflicts found" in output
    for problem in ("not part of the domain", "is not defined", "contradict"):
        assert problem not in output


def test_the_model_follows_every_test_story(tmp_path: Path):
    result = subprocess.run(
        [RASA, "test", "core", "--stories", "tests/rasa/test_stories.yml", "--model", "models", "--out", str(tmp_path)],
        cwd=PROJECT_ROOT, env=ENV, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    failed = tmp_path / "failed_test_stories.yml"
    text = failed.read_text() if failed.exists() else ""
    stories = (
        (yaml.safe_load(text) or {}).get("stories")
        if text.strip() and "None of the test stories failed" not in text
        else None
    )
    assert not stories, text
    report = (
        yaml.safe_load((tmp_path / "story_report.json").read_text())
        if (tmp_path / "story_report.json").exists()
        else {}
    )
    assert report.get("conversation_accuracy", {}).get("accuracy", 1.0) == 1.0, report.get("conversation_accuracy")
