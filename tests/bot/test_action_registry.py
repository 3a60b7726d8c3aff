"""The action server registers exactly the actions the domain names (as `relay serve actions` loads them)."""

from pathlib import Path

import yaml
from rasa_sdk.executor import ActionExecutor

from relay.core.settings import PROJECT_ROOT


def _domain_actions() -> set[str]:
    names: set[str] = set()
    for path in sorted(Path(PROJECT_ROOT / "bot" / "intents").glob("*.yml")):
        names |= set(yaml.safe_load(path.read_text()).get("actions") or [])
    return names


def test_every_action_the_domain_names_is_registered_and_nothing_else():
    executor = ActionExecutor()
    executor.register_package("bot.actions")  # instantiates every concrete Action subclass, as the server does
    registered = set(executor.actions)
    assert registered == _domain_actions()
    assert "" not in registered  # no base class slips in under an empty name
