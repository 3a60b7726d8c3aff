"""The Rasa patches keep Rasa's behaviour: checked in the Rasa venv, where they run."""

import pytest

from tests.bot.rasa_probe import run_in_rasa

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
# The event-by-event check and Rasa's whole schema agree, response by response, on real-shaped and broken ones.
from jsonschema.validators import validator_for
from bot.rasa_patches import _event_by_event
schema = RemoteAction.action_response_format_spec()
reference = validator_for(schema)(schema)
user = {"event": "user", "text": "hi", "parse_data": {"intent": {"name": "greet", "confidence": 0.9},
        "entities": [{"entity": "language", "value": "es", "start": 0, "end": 2}],
        "response_selector": {"all_retrieval_intents": ["ask_faq"]}}}
responses = [
    valid, {"events": [], "responses": []}, {"events": [user]}, {"responses": [{"text": "x", "buttons": []}]},
    {"events": [{"event": "action", "name": "action_listen", "policy": None, "confidence": 1.0}]},
    {"events": [{"event": "active_loop", "name": "dob_form"}, {"event": "followup", "name": "x"}]},
    {"events": [{"event": "slot", "name": "x"}]}, {"events": [{"event": "slot", "value": 1}]},
    {"events": [{"event": "user", "parse_data": {"intent": {"name": 3}}}]},
    {"events": [{"event": "user", "parse_data": {"entities": [{"entity": "x"}]}}]},
    {"events": [{"event": "action", "hide_rule_turn": "yes"}]}, {"events": [{"event": "bot", "timestamp": "now"}]},
    {"events": [{"event": "entities", "entities": "x"}]}, {"events": [{}]}, {"events": "none"},
    {"events": [{"event": "slot", "name": "x", "value": 1, "metadata": []}]}, {"responses": ["hi"]},
]
agree = []
for response in responses:
    agree.append(_event_by_event().is_valid(response) == reference.is_valid(response))
out["agree"] = agree
out["some_invalid"] = sum(not reference.is_valid(r) for r in responses)
print(json.dumps(out))
"""


@pytest.mark.rasa
def test_action_responses_are_still_validated_after_the_patch():
    out = run_in_rasa(PROBE)
    assert out["patched"] is True and out["valid"] is True
    for case in ("event_not_an_object", "unknown_event", "responses_not_a_list"):
        assert out[case] != "accepted", case
        assert "Failed to validate Action server response" in out[case], out[case]
    # Event by event accepts exactly what Rasa's whole schema accepts, on valid and invalid responses alike.
    assert out["some_invalid"] >= 8 and all(out["agree"]), out["agree"]


# The other patches, in the Rasa venv: event classes, the domain an action call carries, kept connections.
OTHER_PROBE = r"""
import asyncio, json
from aiohttp import web
from rasa.core.actions.action import RemoteAction
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import Event, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig
import bot.channels  # applies the patches

out = {}
out["slot_class"] = Event.resolve_by_type("slot") is SlotSet and Event.resolve_by_type("slot") is SlotSet
out["user_class"] = Event.resolve_by_type("user") is UserUttered
out["default_kept"] = Event.resolve_by_type("no_such_event", SlotSet) is SlotSet
try:
    Event.resolve_by_type("no_such_event")
    out["unknown"] = "accepted"
except ValueError as exc:
    out["unknown"] = str(exc)
out["round_trip"] = Event.from_parameters(SlotSet("language", "es").as_dict()) == SlotSet("language", "es")

domain = Domain.load("bot/intents")
tracker = DialogueStateTracker.from_events("probe", [SlotSet("language", "es")], domain.slots)
full = domain.as_dict()
def call(name, **endpoint):
    action = RemoteAction(name, EndpointConfig("http://127.0.0.1:9/webhook", **endpoint))
    return action._action_call_format(tracker, domain)
sent = call("validate_dob_form")
out["keys_sent"] = sorted(sent["domain"])
out["keys_full"] = sorted(full)
out["same_otherwise"] = all(sent["domain"][key] == full[key] for key in sent["domain"])
out["sizes"] = [len(json.dumps(sent["domain"])), len(json.dumps(full))]
out["tracker_slot"] = sent["tracker"]["slots"]["language"]
out["selective_plain"] = "domain" in call("action_start_booking", enable_selective_domain=True)
out["selective_validate"] = "domain" in call("validate_dob_form", enable_selective_domain=True)

async def connections():
    peers = []
    async def answer(request):
        peers.append(request.transport.get_extra_info("peername"))
        return web.json_response({"n": len(peers)})
    app = web.Application()
    app.router.add_post("/webhook", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    endpoint = EndpointConfig(f"http://127.0.0.1:{port}/webhook")
    answers = [await endpoint.request(json={"i": i}) for i in range(3)]
    async with endpoint.session() as session:
        open_after = not session.closed
    await runner.cleanup()
    return {"answers": answers, "peers": len(set(peers)), "open_after": open_after}
out["http"] = asyncio.run(connections())
print(json.dumps(out))
"""


@pytest.mark.rasa
def test_event_lookup_slim_domain_and_kept_connections_keep_rasas_behaviour():
    out = run_in_rasa(OTHER_PROBE)
    # Event classes: the same ones Rasa finds, its default and its error for an unknown name.
    assert out["slot_class"] and out["user_class"] and out["default_kept"] and out["round_trip"]
    assert "Unknown event name 'no_such_event'" in out["unknown"]
    # The domain sent to actions: everything but the response texts, unchanged, and much smaller.
    assert out["keys_sent"] == sorted(set(out["keys_full"]) - {"responses"})
    assert {"forms", "slots"} <= set(out["keys_sent"])
    assert out["same_otherwise"]
    assert out["sizes"][0] * 4 < out["sizes"][1], out["sizes"]
    assert out["tracker_slot"] == "es"
    # Rasa's selective domain still holds: only validate_* actions get one.
    assert out["selective_plain"] is False and out["selective_validate"] is True
    # Three calls, three answers, one connection; the session stays open for the next call.
    assert [answer["n"] for answer in out["http"]["answers"]] == [1, 2, 3]
    assert out["http"]["peers"] == 1 and out["http"]["open_after"] is True
