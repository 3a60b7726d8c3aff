"""Imports run one way (the contracts under [tool.importlinter] in pyproject.toml), and the check bites.

The edges (webhooks, api, console, scheduler, bot, bench) call into relay/; inside
relay/ a layer imports only the layers below it; and no module comes back to
itself through its siblings. Each contract is shown to fail on a copy of the
tree with one deliberate wrong import, so a green run means something.
"""

import shutil
import subprocess
import sys
from pathlib import Path

from relay.core.settings import PROJECT_ROOT

PACKAGES = ("relay", "api", "console", "webhooks", "scheduler", "bot", "bench")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """import-linter over the packages under `root` (PYTHONPATH makes them the ones imported)."""
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(root / "pyproject.toml"), "--no-cache"],
        cwd=root,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def copy_of_the_tree(tmp_path: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(PROJECT_ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(PROJECT_ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def add_import(root: Path, module: str, statement: str) -> None:
    path = root / (module.replace(".", "/") + ".py")
    path.write_text(path.read_text() + f"\n{statement}  # deliberately wrong\n")


def test_every_import_runs_the_allowed_way():
    result = lint_imports(PROJECT_ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 kept, 0 broken" in result.stdout


def test_a_back_import_inside_relay_is_caught(tmp_path):
    root = copy_of_the_tree(tmp_path)
    add_import(root, "relay.core.logs", "import relay.inbound.turns")
    result = lint_imports(root)
    assert result.returncode == 1
    assert "relay.core is not allowed to import relay.inbound" in result.stdout
    assert "relay.core.logs -> relay.inbound.turns" in result.stdout


def test_relay_calling_an_edge_is_caught(tmp_path):
    root = copy_of_the_tree(tmp_path)
    add_import(root, "relay.outreach.delivery", "import scheduler.jobs")
    result = lint_imports(root)
    assert result.returncode == 1
    assert "relay is not allowed to import scheduler" in result.stdout


def test_a_circle_between_siblings_is_caught(tmp_path):
    root = copy_of_the_tree(tmp_path)
    add_import(root, "bot.actions.handoff", "import bot.actions.faq")  # faq already imports handoff
    result = lint_imports(root)
    assert result.returncode == 1
    assert "No cycles are allowed in bot.actions" in result.stdout
