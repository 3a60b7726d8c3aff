"""Small, documented patches to Rasa 3.6, applied when the Rasa server imports our channels (bot/channels.py).

Each patch keeps Rasa's behaviour and removes a cost measured in a profile of
our turns (issue 14). Runs in the Rasa venv: imports only rasa and its deps.

1. Action server responses are validated with validators built once, each event
   against its own event type's schema.
   `RemoteAction._validate_action_result` calls `jsonschema.validate`, which
   checks the whole events schema against its meta-schema on every call
   before validating the response: about 30% of the Rasa process's CPU per
   turn. The schema is a constant, so it is checked once here. jsonschema's
   walk of it was then still 5%: each event is checked against all 23 event
   schemas of a `oneOf`, and every one that does not match builds its errors.
   Every one of those schemas pins `event` to a different name, and `event`
   is required, so exactly the one named by the event can match: an event is
   valid under the `oneOf` if and only if it is valid under that one (with
   the properties every event shares). So each event is checked against that
   one alone (8 times faster on a typical response); a response that fails
   there goes through Rasa's whole schema, which raises the same best-match
   error, with Rasa's own message appended, as before.
2. An event's class is looked up once per type name. `Event.from_parameters`
   (every event of every tracker loaded, every event an action returns)
   calls `Event.resolve_by_type`, which walks the whole tree of Event
   subclasses each time: 3% of the Rasa process's CPU in a profile. The
   lookup is memoised on success; an unknown name still goes through Rasa's
   walk (its default, its error).
3. The action server gets the domain without its response texts. Rasa sends
   `domain.as_dict()` with every action call: 41 kB here, 36 kB of it the
   responses' texts in two languages and two channels, encoded by Rasa and
   parsed again by the action server each time (a fifth of the action
   server's CPU). Actions name a response and Rasa renders it, so they never
   read the texts; forms (rasa_sdk reads `forms` and `slots`) get everything
   else, as before. Rasa's own `enable_selective_domain` cannot do this here:
   the rasa-sdk our action server runs refuses a call without a domain.
4. Calls to the action server reuse their connections. Rasa's
   `EndpointConfig.request` opens a new aiohttp session, and with it a new TCP
   connection, for every call. Each event loop (one per Sanic worker) keeps
   one session here, whose idle connections are closed after
   KEEPALIVE_SECONDS, long before the action server's own keep-alive timeout
   (rasa-sdk: 120 s) could close one under a request.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from functools import lru_cache
from typing import Any

import aiohttp
import rasa
from jsonschema import ValidationError
from jsonschema.exceptions import best_match
from jsonschema.validators import validator_for
from rasa.core.actions.action import RemoteAction
from rasa.core.constants import DEFAULT_REQUEST_TIMEOUT
from rasa.shared.constants import DOCS_BASE_URL
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import Event
from rasa.shared.core.trackers import DialogueStateTracker, EventVerbosity
from rasa.utils.endpoints import EndpointConfig

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


class _EventByEvent:
    """Rasa's action response schema, its events each checked against the one event schema they name."""

    def __init__(self) -> None:
        schema = RemoteAction.action_response_format_spec()
        cls = validator_for(schema)
        events = schema["properties"]["events"]["items"]  # Rasa's EVENT_SCHEMA
        shared = {key: value for key, value in events.items() if key != "oneOf"}
        names = [branch["properties"]["event"]["const"] for branch in events["oneOf"]]
        if len(set(names)) != len(names) or "event" not in events["required"]:
            raise ValueError("Rasa's event schemas no longer each pin a distinct, required `event`")
        outer = copy.deepcopy(schema)
        outer["properties"]["events"]["items"] = shared
        self._outer = cls(outer)
        branches = zip(names, events["oneOf"], strict=True)
        self._events = {name: cls({**shared, "allOf": [branch]}) for name, branch in branches}

    def is_valid(self, result: Any) -> bool:
        if not self._outer.is_valid(result):
            return False
        for event in result.get("events") or []:
            validator = self._events.get(event["event"])
            if validator is None or not validator.is_valid(event):
                return False
        return True


@lru_cache(maxsize=1)
def _event_by_event() -> _EventByEvent:
    return _EventByEvent()


# --- 1. action responses, validated with validators built once ----------------


def _validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
    if _event_by_event().is_valid(result):
        return True
    # Rasa's whole schema names what is wrong, in Rasa's words.
    error = best_match(_action_response_validator().iter_errors(result))
    if error is not None:
        error.message += _RASA_HINT
        raise error
    return True


# --- 2. event classes by type name ---------------------------------------------

_rasa_resolve_by_type = Event.resolve_by_type
_event_classes: dict[str, type[Event]] = {}


def _resolve_by_type(type_name: str, default: type[Event] | None = None) -> type[Event] | None:
    cls = _event_classes.get(type_name)
    if cls is None:
        cls = _rasa_resolve_by_type(type_name, default)
        # Only a class that is this event type is kept: a default stands in for one that is not known.
        if cls is not None and getattr(cls, "type_name", None) == type_name:
            _event_classes[type_name] = cls
    return cls


# --- 3. the domain an action call carries ------------------------------------

# What actions never read: the response texts (an action names a response, Rasa renders it).
LEFT_OUT_OF_ACTION_CALLS = ("responses",)


def domain_for_actions(domain: Domain) -> dict[str, Any]:
    """`domain.as_dict()` without the response texts, built once per domain (a new model brings a new one)."""
    cached = domain.__dict__.get("_relay_domain_for_actions")
    if cached is None:
        cached = {key: value for key, value in domain.as_dict().items() if key not in LEFT_OUT_OF_ACTION_CALLS}
        domain.__dict__["_relay_domain_for_actions"] = cached
    return cached


def _action_call_format(self: RemoteAction, tracker: DialogueStateTracker, domain: Domain) -> dict[str, Any]:
    """Rasa 3.6's RemoteAction._action_call_format, with `domain_for_actions` for `domain.as_dict()`."""
    result = {
        "next_action": self._name,
        "sender_id": tracker.sender_id,
        "tracker": tracker.current_state(EventVerbosity.ALL),
        "version": rasa.__version__,
    }
    if not self._is_selective_domain_enabled() or domain.does_custom_action_explicitly_need_domain(self.name()):
        result["domain"] = domain_for_actions(domain)
    return result


# --- 4. one HTTP session per event loop ----------------------------------------

# Well below rasa-sdk's keep-alive timeout (120 s), so the client closes an idle connection first; short,
# so that connections are made afresh after a lull and spread over the action server's workers again.
KEEPALIVE_SECONDS = 2.0


class _KeptSession:
    """Stands in for a new aiohttp.ClientSession in Rasa's `async with self.session() as session`.

    Entering gives the loop's shared session; leaving keeps it open for the next call.
    """

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self._session = session

    async def __aenter__(self) -> aiohttp.ClientSession:
        return self._session

    async def __aexit__(self, *_exc: object) -> None:
        return None


def _session(self: EndpointConfig) -> Any:
    """Rasa 3.6's EndpointConfig.session (same headers, auth and timeout), kept per event loop."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # not called from a coroutine: Rasa's own, closed by its caller
        return _rasa_session(self)
    # Keyed by the loop's id; the loop is kept with its session, so that id stays its own.
    sessions: dict[int, tuple[asyncio.AbstractEventLoop, aiohttp.ClientSession]]
    sessions = self.__dict__.setdefault("_relay_sessions", {})
    kept_loop, session = sessions.get(id(loop), (None, None))
    if session is None or session.closed or kept_loop is not loop:
        auth = aiohttp.BasicAuth(self.basic_auth["username"], self.basic_auth["password"]) if self.basic_auth else None
        session = aiohttp.ClientSession(
            headers=self.headers,
            auth=auth,
            timeout=aiohttp.ClientTimeout(total=DEFAULT_REQUEST_TIMEOUT),
            connector=aiohttp.TCPConnector(keepalive_timeout=KEEPALIVE_SECONDS),
        )
        sessions[id(loop)] = (loop, session)
    return _KeptSession(session)


_rasa_session = EndpointConfig.session


def apply() -> None:
    if getattr(RemoteAction._validate_action_result, "_relay_patch", False):
        return
    for function in (_validate_action_result, _resolve_by_type, _action_call_format, _session):
        setattr(function, "_relay_patch", True)  # noqa: B010 (a marker on a function object)
    RemoteAction._validate_action_result = _validate_action_result
    Event.resolve_by_type = staticmethod(_resolve_by_type)
    RemoteAction._action_call_format = _action_call_format
    EndpointConfig.session = _session
    logger.debug("relay: Rasa patches applied (bot/rasa_patches.py)")


__all__ = ["ValidationError", "apply"]
