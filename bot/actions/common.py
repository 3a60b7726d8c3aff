"""What every action needs: the conversation behind Rasa's opaque sender id."""

from rasa_sdk import Tracker
from sqlalchemy.orm import Session

from relay.models import Conversation
from relay.records import conversations


def is_voice(tracker: Tracker) -> bool:
    """Is the latest message from a phone call? Then dates, times and choices are worded for the ear."""
    return tracker.get_latest_input_channel() == "voice"


def conversation_for(session: Session, tracker: Tracker) -> Conversation | None:
    """Rasa only knows our opaque public id; the phone and patient stay in our database."""
    return conversations.by_public_id(session, tracker.sender_id)
