"""A long conversation keeps what it established, once Rasa loads only a window of it (bot/tracker_store.py)."""

import httpx
import pytest
from sqlalchemy import create_engine, select, text

from relay.core.db import session_scope
from relay.core.settings import get_settings
from relay.models import Conversation
from relay.ops.processes import rasa_environment

pytestmark = pytest.mark.rasa

JAMES = "+13125550145"
# Everyday questions a verified patient asks again and again; none is a miss (two misses go to staff).
ROUND = ("what are your hours?", "where do I park", "thanks!", "when is my appointment?")
ROUNDS = 6  # 24 turns: well past two windows of 60 events (bot/endpoints.yml)


def _tracker_engine():
    env = rasa_environment()
    if env["RASA_TRACKER_DIALECT"] == "sqlite":
        return create_engine(f"sqlite:///{env['RASA_TRACKER_DB']}")
    return create_engine(get_settings().database_url)


def test_a_verified_patient_stays_verified_and_answered_deep_into_a_long_conversation(texter):
    james = texter(JAMES)
    assert "date of birth" in james.send("when is my appointment?").lower()
    assert "Lakeside Heart Center" in james.send("9/3/1957")
    sent = ["when is my appointment?", "9/3/1957"]
    for _ in range(ROUNDS):
        for message in ROUND:
            reply = james.send(message)
            sent.append(message)
            assert reply and "date of birth" not in reply.lower(), (len(sent), message, reply)
    # The date of birth was checked in the first turns, long before the window Rasa now loads.
    assert "Lakeside Heart Center" in james.replies[-1]

    with session_scope() as session:
        sender = session.scalars(select(Conversation).filter_by(phone=JAMES)).one().public_id
    engine = _tracker_engine()
    with engine.connect() as connection:
        windows = connection.execute(
            text("SELECT count(*) FROM relay_tracker_windows WHERE sender_id = :sender"), {"sender": sender}
        ).scalar()
        stored = connection.execute(
            text("SELECT count(*) FROM events WHERE sender_id = :sender AND type_name = 'user'"), {"sender": sender}
        ).scalar()
    engine.dispose()
    assert windows == 1  # the window moved on (it is replaced as it moves)
    assert stored == len(sent)  # every message stored once, none lost, none twice
    # The whole conversation is still there for anyone who asks for all of it.
    tracker = httpx.get(f"{get_settings().rasa_url}/conversations/{sender}/tracker", timeout=10).json()
    assert [e["text"] for e in tracker["events"] if e["event"] == "user"] == sent
