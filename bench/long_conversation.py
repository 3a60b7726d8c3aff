"""Turn time late in a long conversation against early in it (issue 14: the 200th turn within 1.2x of the 10th).

BENCH_LONG_CONVERSATIONS conversations (default 3) run at once, each for
BENCH_LONG_TURNS signed SMS webhook turns (default 205) of everyday messages
(bench.sms.SCRIPT, over and over). The figure is the p50 of turns 5-15
against the p50 of the last eleven turns (195-205 by default), over all
conversations; a p50 per window of 25 turns shows the trend between.

A session lasts until session_expiration_time minutes without a message, so
these conversations stay in one session; what Rasa loads per turn is bounded
by the tracker store's window instead (bot/tracker_store.py: the latest
RASA_TRACKER_WINDOW_EVENTS to twice as many events, after the slots and form
as they stood). The figures include the events stored at the end, the
session_config and the window in force.

    python -m bench.long_conversation
"""

import statistics
import sys
import threading
import time
import uuid

import httpx
import yaml

from bench.stack import Stack, running_stack, setting, using_stack
from relay.core.settings import PROJECT_ROOT

FIRST_PATIENT = 100  # bench patients 100-199
EARLY = (5, 15)
WINDOW = 25


def session_config() -> dict:
    """The domain's session_config (bot/intents/*.yml), as Rasa reads it."""
    for path in sorted((PROJECT_ROOT / "bot" / "intents").glob("*.yml")):
        config = (yaml.safe_load(path.read_text()) or {}).get("session_config")
        if config:
            return dict(config) | {"file": str(path.relative_to(PROJECT_ROOT))}
    return {}


def _tracker_events(rasa_url: str, sender: str) -> int | None:
    try:
        response = httpx.get(f"{rasa_url}/conversations/{sender}/tracker", timeout=30)
        return len(response.json().get("events", []))
    except (httpx.HTTPError, ValueError):
        return None


def run_long_conversations(stack: Stack, *, conversations: int, turns: int) -> dict:
    from twilio.request_validator import RequestValidator

    from bench.sms import CLINIC_NUMBER, SCRIPT, conversation_ids, make_bench_patients, release_handoffs
    from relay.core.settings import get_settings

    phones = make_bench_patients(conversations, first=FIRST_PATIENT)
    url = f"{stack.api_url}/webhooks/twilio/sms"
    validator = RequestValidator(get_settings().twilio_auth_token.get_secret_value())
    client = httpx.Client(timeout=60)
    by_turn: dict[int, list[float]] = {}
    silent = handoffs = 0
    lock = threading.Lock()

    def talk(phone: str) -> None:
        nonlocal silent, handoffs
        for turn in range(1, turns + 1):
            params = {"MessageSid": "SM" + uuid.uuid4().hex, "From": phone, "To": CLINIC_NUMBER,
                      "Body": SCRIPT[(turn - 1) % len(SCRIPT)], "AccountSid": "AC" + "0" * 32}  # fmt: skip
            headers = {"X-Twilio-Signature": validator.compute_signature(url, params)}
            began = time.perf_counter()
            response = client.post(url, data=params, headers=headers)
            elapsed = (time.perf_counter() - began) * 1000
            answered = response.status_code == 200 and "<Message>" in response.text
            with lock:
                if answered:
                    by_turn.setdefault(turn, []).append(elapsed)
                else:
                    silent += 1
            if not answered:  # a handoff silences the bot: give the conversation back and go on
                released = release_handoffs([phone])
                with lock:
                    handoffs += released

    threads = [threading.Thread(target=talk, args=(phone,)) for phone in phones]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.monotonic() - started

    def p50(first: int, last: int) -> float | None:
        values = [v for t in range(first, last + 1) for v in by_turn.get(t, [])]
        return round(statistics.median(values), 1) if values else None

    late = (max(turns - 10, 1), turns)
    early_p50, late_p50 = p50(*EARLY), p50(*late)
    senders = conversation_ids(phones)
    return {
        "conversations": conversations,
        "turns": turns,
        "seconds": round(seconds, 1),
        "early_turns": list(EARLY),
        "late_turns": list(late),
        "early_p50_ms": early_p50,
        "late_p50_ms": late_p50,
        "ratio": round(late_p50 / early_p50, 3) if early_p50 and late_p50 else None,
        "p50_by_window_ms": {f"{t}-{t + WINDOW - 1}": p50(t, t + WINDOW - 1) for t in range(1, turns + 1, WINDOW)},
        "silent_turns": silent,
        "handoffs_released": handoffs,
        "tracker_events_at_end": [_tracker_events(stack.rasa_url, senders[p]) for p in phones if p in senders],
        "session_config": session_config(),
        "tracker_window_events": get_settings().rasa_tracker_window_events,
    }


def long_conversation_markdown(f: dict) -> list[str]:
    config = f["session_config"]
    return [
        f"## Turn time late in a long conversation ({f['conversations']} conversations of {f['turns']} turns at once)",
        "",
        "| turns | p50 ms |",
        "| --- | ---: |",
        f"| {f['early_turns'][0]}-{f['early_turns'][1]} | {f['early_p50_ms']} |",
        f"| {f['late_turns'][0]}-{f['late_turns'][1]} | {f['late_p50_ms']} |",
        f"| ratio (late / early; target at most 1.2) | {f['ratio']} |",
        "",
        "p50 by window: " + ", ".join(f"{k}: {v}" for k, v in f["p50_by_window_ms"].items()) + ".",
        "",
        f"Rasa tracker events stored at the end: {f['tracker_events_at_end']}; turns without an answer: "
        f"{f['silent_turns']} (handoffs released: {f['handoffs_released']}). The domain's session_config "
        f"({config.get('file')}): session_expiration_time {config.get('session_expiration_time')} min, "
        f"carry_over_slots_to_new_session {config.get('carry_over_slots_to_new_session')}: one session all "
        f"along. What Rasa loads per turn: {_window_text(f.get('tracker_window_events'))}.",
    ]


def _window_text(window: int | None) -> str:
    if window is None:  # results from before the window
        return "every event since the session began"
    return f"the latest {window} to {2 * window} events after the slots and form as they stood (bot/tracker_store.py)"


def main() -> int:
    conversations, turns = int(setting("BENCH_LONG_CONVERSATIONS", 3)), int(setting("BENCH_LONG_TURNS", 205))
    with running_stack() as stack, using_stack(stack):
        figures = run_long_conversations(stack, conversations=conversations, turns=turns)
    print("\n".join(long_conversation_markdown(figures)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
