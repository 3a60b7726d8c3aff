"""The Rasa patches keep Rasa's behaviour: checked in the Rasa venv, where they run."""

import json
import subprocess

import pytest

from relay.core.settings import PROJECT_ROOT

RASA_PYTHON = PROJECT_ROOT / ".venv-rasa" / "bin" / "python"

# Runs in the Rasa venv: import our channels module as the server does, then validate responses.
PROBE = r"""
import json
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction
import bot.channels  # applies the patches, as when Rasa loads credentials.yml

action = RemoteAction("action_probe", None)
patched = getattr(RemoteAction._validate_action_result, "_relay_patch", False)
valid = {"events": [{"event": "slot", "name": "x", "value": 1}], "responses": [{"text": "hi"}]}
out = {"patched": patched, "valid": action._validate_action_result(valid)}
for name, bad in {
    "event_not_an_object": {"events": ["slot"], "responses": []},
    "unknown_event": {"events": [{"event": "no_such_event"}], "responses": []},
    "responses_not_a_list": {"events": [], "responses": {"text": "hi"}},
}.items():
    try:
        action._validate_action_result(bad)
        out[name] = "accepted"
    except ValidationError as exc:
        out[name] = exc.message
print(json.dumps(out))
"""


@pytest.mark.rasa
def test_action_responses_are_still_validated_after_the_patch():
    if not RASA_PYTHON.exists():
        pytest.fail(f"{RASA_PYTHON} is missing: run `make setup`")
    result = subprocess.run([str(RASA_PYTHON), "-c", PROBE], cwd=PROJECT_ROOT, capture_output=True, text=True,
                            timeout=120, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["patched"] is True and out["valid"] is True
    for case in ("event_not_an_object", "unknown_event", "responses_not_a_list"):
        assert out[case] != "accepted", case
        assert "Failed to validate Action server response" in out[case], out[case]
