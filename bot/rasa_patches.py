"""Small, documented patches to Rasa 3.6, applied when the Rasa server imports our channels (bot/channels.py).

Each patch keeps Rasa's behaviour and removes a cost measured in a profile of
our turns (issue 14). Runs in the Rasa venv: imports only rasa and its deps.

1. Action server responses are validated with a validator built once.
   `RemoteAction._validate_action_result` calls `jsonschema.validate`, which
   checks the whole events schema against its meta-schema on every call
   before validating the response: about 30% of the Rasa process's CPU per
   turn. The schema is a constant, so it is checked once here, and each
   response is validated with the same validator class and the same
   best-match error, with Rasa's own message appended, as before.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

from jsonschema import ValidationError
from jsonschema.exceptions import best_match
from jsonschema.validators import validator_for
from rasa.core.actions.action import RemoteAction
from rasa.shared.constants import DOCS_BASE_URL

logger = logging.getLogger(__name__)

_RASA_HINT = (
    ". Failed to validate Action server response from API, "
    "make sure your response from the Action endpoint is valid. "
    f"For more information about the format visit {DOCS_BASE_URL}/custom-actions"
)


@lru_cache(maxsize=1)
def _action_response_validator() -> Any:
    schema = RemoteAction.action_response_format_spec()
    cls = validator_for(schema)
    cls.check_schema(schema)  # once, where jsonschema.validate does it on every call
    return cls(schema)


def _validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
    error = best_match(_action_response_validator().iter_errors(result))
    if error is not None:
        error.message += _RASA_HINT
        raise error
    return True


def apply() -> None:
    if getattr(RemoteAction._validate_action_result, "_relay_patch", False):
        return
    _validate_action_result._relay_patch = True  # type: ignore[attr-defined]
    RemoteAction._validate_action_result = _validate_action_result
    logger.debug("relay: action responses validated with a validator built once")


__all__ = ["ValidationError", "apply"]
