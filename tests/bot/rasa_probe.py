"""Code run in the Rasa venv, where Rasa and our bot modules run: its last line of output, read as JSON."""

import json
import subprocess
from pathlib import Path

import pytest

from relay.core.settings import PROJECT_ROOT

RASA_PYTHON = PROJECT_ROOT / ".venv-rasa" / "bin" / "python"


def run_in_rasa(code: str | Path, *args: str, timeout: float = 120, env: dict[str, str] | None = None) -> dict:
    """Run `code` (a script's text, or a script file) with `args` in the Rasa venv; fail the test if it fails."""
    if not RASA_PYTHON.exists():
        pytest.fail(f"{RASA_PYTHON} is missing: run `make setup`")
    script = [str(code)] if isinstance(code, Path) else ["-c", code]
    result = subprocess.run([str(RASA_PYTHON), *script, *args], cwd=PROJECT_ROOT, env=env, capture_output=True,
                            text=True, timeout=timeout, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])
