"""Runs in the Rasa venv (tests/bot/test_tracker_window.py starts it): the windowed tracker store against Rasa's own.

The same 40 turns go into bot.tracker_store.WindowedSQLTrackerStore (a
window of 10 events) and into Rasa's SQLTrackerStore: slots set in the
first turn, a form that starts and ends, a pause and a resume, a new
session at turn 30. After each turn both trackers are read back and
compared: slot values, active form, pause, latest message and the last ten
events. Prints one JSON line: the mismatches, events loaded per turn, the
window rows, and whether both stores wrote the same event rows.

    python tests/bot/tracker_window_probe.py '{"dialect": "sqlite", "db": "/tmp/x.db"}'
"""

import asyncio
import json
import sys
import uuid

from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    ActiveLoop,
    BotUttered,
    ConversationPaused,
    ConversationResumed,
    SessionStarted,
    SlotSet,
    UserUttered,
)

from bot.tracker_store import TrackerWindow, WindowedSQLTrackerStore

TURNS = 40
WINDOW = 10
DOMAIN = Domain.from_dict(
    {
        "intents": ["greet"],
        "slots": {name: {"type": "any", "mappings": [{"type": "custom"}]} for name in ("count", "early")}
        | {"starts_set": {"type": "text", "initial_value": "yes", "mappings": [{"type": "custom"}]}},
    }
)


def turn(n: int, at: float) -> list:
    events = [
        UserUttered(f"message {n}", {"name": "greet", "confidence": 1.0}, timestamp=at),
        SlotSet("count", n, timestamp=at),
    ]
    extra = {
        1: [SlotSet("early", "set in turn 1", timestamp=at), SlotSet("starts_set", None, timestamp=at)],
        3: [ActiveLoop("some_form", timestamp=at)],
        7: [ConversationPaused(timestamp=at)],
        9: [ConversationResumed(timestamp=at)],
        12: [ActiveLoop(None, timestamp=at)],
        30: [SessionStarted(timestamp=at)],  # a new session: the slots start over, the old window no longer holds
    }
    return events + extra.get(n, []) + [
        ActionExecuted("utter_x", timestamp=at), BotUttered(f"reply {n}", timestamp=at),
        ActionExecuted("action_listen", timestamp=at),
    ]  # fmt: skip


async def main(db: dict) -> dict:
    windowed = WindowedSQLTrackerStore(domain=DOMAIN, window_events=WINDOW, **db["windowed"])
    plain = SQLTrackerStore(domain=DOMAIN, **db["plain"])
    senders = {windowed: "w-" + uuid.uuid4().hex, plain: "p-" + uuid.uuid4().hex}
    out: dict = {"mismatches": [], "loaded": [], "window_rows": []}
    for store, sender in senders.items():
        tracker = store.init_tracker(sender)
        for event in (ActionExecuted("action_session_start", timestamp=1.0), SessionStarted(timestamp=1.0),
                      ActionExecuted("action_listen", timestamp=1.0)):  # fmt: skip
            tracker.update(event)
        await store.save(tracker)
    for n in range(1, TURNS + 1):
        events = turn(n, at=1000.0 + n)
        for store, sender in senders.items():
            tracker = await store.retrieve(sender)
            for event in events:
                tracker.update(event)
            await store.save(tracker)
        w, p = await windowed.retrieve(senders[windowed]), await plain.retrieve(senders[plain])
        out["loaded"].append(len(w.events))
        checks = {
            "slots": (w.current_slot_values(), p.current_slot_values()),
            "active_loop": (w.active_loop_name, p.active_loop_name),
            "paused": (w.is_paused(), p.is_paused()),
            "latest_message": (w.latest_message.text, p.latest_message.text),
            "last_ten_events": (
                [e.as_dict() for e in list(w.events)[-10:]],
                [e.as_dict() for e in list(p.events)[-10:]],
            ),
        }
        out["mismatches"] += [[n, name, str(a), str(b)] for name, (a, b) in checks.items() if a != b]
        with windowed.session_scope() as session:
            rows = session.query(TrackerWindow).filter(TrackerWindow.sender_id == senders[windowed]).count()
            out["window_rows"].append(rows)
    stored = {}
    for store, sender in senders.items():
        with store.session_scope() as session:
            query = session.query(store.SQLEvent).filter(store.SQLEvent.sender_id == sender).order_by(store.SQLEvent.id)
            stored[store] = [(row.type_name, json.loads(row.data)) for row in query]
    out["same_event_rows"] = stored[windowed] == stored[plain]
    out["event_rows"] = len(stored[windowed])
    if windowed.engine.dialect.name == "sqlite":
        with windowed.engine.connect() as connection:
            out["sqlite_pragmas"] = [connection.exec_driver_sql(f"PRAGMA {name}").scalar() for name in
                                     ("journal_mode", "synchronous", "busy_timeout")]  # fmt: skip
    full = await windowed.retrieve_full_tracker(senders[windowed])
    out["full_user_texts"] = [e.text for e in full.events if isinstance(e, UserUttered)]
    return out


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(json.loads(sys.argv[1])))))
