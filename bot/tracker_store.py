"""Rasa's SQL tracker store with a bounded window: a turn late in a long conversation costs what an early one does.

Runs in the Rasa venv (bot/endpoints.yml names it): imports only rasa and its deps.

Why: Rasa's SQLTrackerStore hands Rasa every event since the session began,
and a session only ends after `session_expiration_time` minutes of silence.
Everything after it is linear in that history: loading and replaying the
events, each policy's state featurization, the tracker sent to the action
server with every call. A py-spy profile of one conversation (issue 14) put
its 200th turn at 3.8x its 10th, nearly all of it in those layers.

What it does: when a session's loaded history passes 2 x `window_events`
events, `save` records a *window start* (table `relay_tracker_windows`): the
id of an `action_listen` event at least `window_events` events back, and the
conversation's state at that point (slot values, the active form, whether
it is paused, when the session began). `retrieve` then loads only the events
after the latest window start of the current session and puts in front of
them what Rasa itself writes when a session starts with its slots carried
over: `session_started`, one `slot` event per slot, the active form, and
`action_listen`. Rasa, its policies and the actions see the same slots, the
same active form and the last `window_events` or more events (our policies
look back 5 turns, our actions 2); the `events` table keeps every event, so
`retrieve_full_tracker` and audits still see the whole conversation.

Rasa's `save` counts the session's stored events to tell which of the
tracker's events are new; with a window that count no longer matches, so
`retrieve` notes on the tracker how many of its events are already stored,
and `save` writes the ones after them.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import sqlalchemy as sa
import sqlalchemy.exc
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.events import ActionExecuted, Event, SessionStarted
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY
from sqlalchemy.orm import declarative_base

logger = logging.getLogger(__name__)

DEFAULT_WINDOW_EVENTS = 60

# The tracker attribute naming the database id of each of its events that is stored (None: not stored, or
# one of the window's leading events, which stand for stored ones).
STORED_IDS = "_relay_stored_event_ids"

# The two parts of `retrieve`'s one statement, in their order.
WINDOW_PART, EVENTS_PART = 0, 1

WindowBase = declarative_base()


class TrackerWindow(WindowBase):  # type: ignore[misc, valid-type]
    """Where a conversation's loaded history starts, and its state just before."""

    __tablename__ = "relay_tracker_windows"

    id = sa.Column(sa.Integer, primary_key=True)
    sender_id = sa.Column(sa.String(255), nullable=False, index=True)
    # The id (events table) of the action_listen event that ends what the window leaves out.
    last_event_id = sa.Column(sa.Integer, nullable=False)
    state = sa.Column(sa.Text, nullable=False)


class WindowedSQLTrackerStore(SQLTrackerStore):
    """SQLTrackerStore whose `retrieve` loads the current session from its latest window start."""

    engine: Any  # SQLTrackerStore's (typed where rasa is installed; mypy runs in the app's venv)
    sessionmaker: Any

    def __init__(self, *args: Any, window_events: int | str = DEFAULT_WINDOW_EVENTS, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.window_events = max(int(window_events), 10)
        events = self.SQLEvent.__table__
        self._insert_one = events.insert()
        self._insert_returning = events.insert().returning(events.c.id)
        self._window_and_events = self._window_and_events_query()
        if self.engine.dialect.name == "sqlite":
            self._tune_sqlite()
        try:
            WindowBase.metadata.create_all(self.engine)
        except (sqlalchemy.exc.OperationalError, sqlalchemy.exc.ProgrammingError) as error:
            # Replicas start together; the first one creates the table (as Rasa does for `events`).
            logger.error("could not create %s (%s)", TrackerWindow.__tablename__, type(error).__name__)

    def _tune_sqlite(self) -> None:
        """The SQLite file (make run's default) with a pool, WAL and synchronous=NORMAL.

        Rasa opens SQLite with SQLAlchemy's defaults: a new connection for every
        read and write, and a rollback journal synced on every commit, which put
        the tracker store at a quarter of Rasa's CPU per turn in a profile
        (issue 14). Several Rasa workers share the file: WAL lets them read while
        one writes, and busy_timeout queues writers. synchronous=NORMAL in WAL
        mode loses no commit when a process dies, only on a power cut; the
        tracker is the bot's working memory (the app's own database keeps the
        messages and the audit log, fully synced).
        """
        url = self.engine.url
        self.engine.dispose()
        self.engine = sa.create_engine(
            url, poolclass=sa.pool.QueuePool, connect_args={"timeout": 30, "check_same_thread": False}
        )

        @sa.event.listens_for(self.engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)

    # --- reading -------------------------------------------------------------

    async def retrieve(self, sender_id: str) -> DialogueStateTracker | None:
        # One statement outside a transaction: on PostgreSQL a session's BEGIN, two SELECTs and ROLLBACK
        # were four round trips on every turn. Its two parts read one snapshot, and the lock store keeps
        # every other writer of this conversation out until this turn is saved.
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            rows = connection.execute(self._window_and_events, {"sender_id": sender_id}).all()
        window = rows[0] if rows and rows[0].part == WINDOW_PART else None
        rows = rows[1:] if window is not None else rows
        leading = _leading_events(json.loads(window.data)) if window is not None else []
        if not self.domain or not rows:
            return None
        events = leading + [json.loads(row.data) for row in rows]
        tracker = DialogueStateTracker.from_dict(sender_id, events, self.domain.slots)
        setattr(tracker, STORED_IDS, [None] * len(leading) + [row.id for row in rows])
        return tracker

    def _window_and_events_query(self) -> Any:
        """The conversation's window row (at most one, `part` 0), then the events Rasa is to see (`part` 1).

        Built once, the conversation a parameter: building it for every turn
        was a sixth of the tracker store's CPU.

        The events: those after the window start if there is one (`save` drops it
        when a session starts, so it belongs to the current session), else Rasa's
        own choice, the events since the session's latest `session_started`.
        Plain (id, data) rows: ORM objects for each event cost a tenth of the
        tracker store's time.
        """
        windows, events = TrackerWindow.__table__, self.SQLEvent.__table__
        sender_id: Any = sa.bindparam("sender_id")
        window_start = sa.select(windows.c.last_event_id).where(windows.c.sender_id == sender_id).scalar_subquery()
        session_start = (
            sa.select(sa.func.max(events.c.timestamp))
            .where(events.c.sender_id == sender_id, events.c.type_name == SessionStarted.type_name)
            .scalar_subquery()
        )
        in_window = sa.or_(
            sa.and_(window_start.is_not(None), events.c.id > window_start),
            sa.and_(window_start.is_(None), sa.or_(session_start.is_(None), events.c.timestamp >= session_start)),
        )
        window_row = sa.select(
            sa.literal(WINDOW_PART).label("part"), windows.c.last_event_id.label("id"), windows.c.state.label("data")
        ).where(windows.c.sender_id == sender_id)
        event_rows = sa.select(sa.literal(EVENTS_PART), events.c.id, events.c.data).where(
            events.c.sender_id == sender_id, in_window
        )
        return sa.union_all(window_row, event_rows).order_by("part", "id")

    # --- writing -------------------------------------------------------------

    async def save(self, tracker: DialogueStateTracker) -> None:
        stored_ids: list[int | None] | None = getattr(tracker, STORED_IDS, None)
        if stored_ids is None:
            # Not one this store loaded (a new conversation, or a tracker Rasa rebuilt): Rasa's own
            # bookkeeping holds, and no window may apply to what it writes.
            await super().save(tracker)
            with self.session_scope() as session:
                self._drop_window(session, tracker.sender_id)
                session.commit()
            return
        await self.stream_events(tracker)
        events = list(tracker.events)
        with self.session_scope() as session:
            new = events[len(stored_ids) :]
            if any(isinstance(event, SessionStarted) for event in new):
                self._drop_window(session, tracker.sender_id)  # it belonged to the session that ended
            stored_ids.extend(self._insert(session, [self._row(tracker.sender_id, event) for event in new]))
            self._move_window(session, tracker.sender_id, events, stored_ids)
            session.commit()

    @staticmethod
    def _row(sender_id: str, event: Event) -> dict[str, Any]:
        """An events-table row's values, as SQLTrackerStore.save writes them."""
        data = event.as_dict()
        return {
            "sender_id": sender_id,
            "type_name": event.type_name,
            "timestamp": data.get("timestamp"),
            "intent_name": data.get("parse_data", {}).get("intent", {}).get(INTENT_NAME_KEY),
            "action_name": data.get("name"),
            "data": json.dumps(data),
        }

    def _insert(self, session: Any, rows: list[dict[str, Any]]) -> list[int]:
        """Insert a turn's events in their order; their ids, in the same order.

        PostgreSQL: one INSERT ... VALUES ... RETURNING for all of them, where the
        ORM sends one statement per event: an executemany that SQLAlchemy's
        psycopg2 dialect sends through execute_values, so the statement is
        compiled once and cached (a `.values(rows)` statement was compiled anew
        every turn: a fifth of the tracker store's CPU). A sequence hands out
        ids in the order the VALUES rows are inserted, so sorted ids follow the
        rows. SQLite (no RETURNING in SQLAlchemy 1.4): one insert each,
        in-process and cheap, and cheaper than the ORM's flush.
        """
        if not rows:
            return []
        if self.engine.dialect.name == "postgresql":
            return sorted(session.execute(self._insert_returning, rows).scalars())
        # One statement with parameters: compiled once, from SQLAlchemy's cache.
        return [session.execute(self._insert_one, row).inserted_primary_key[0] for row in rows]

    def _move_window(self, session: Any, sender_id: str, events: list[Event], ids: list[int | None]) -> None:
        """Past 2 x window_events loaded events, start the window at the latest listen that keeps window_events."""
        if len(events) <= 2 * self.window_events:
            return
        # The window stays inside the latest session, which Rasa's own query already starts at.
        session_start = max((i for i, event in enumerate(events) if isinstance(event, SessionStarted)), default=-1)
        cut = None
        for index in range(len(events) - self.window_events - 1, session_start, -1):
            event = events[index]
            if isinstance(event, ActionExecuted) and event.action_name == ACTION_LISTEN_NAME and ids[index]:
                cut = index
                break
        if cut is None:
            return
        before = DialogueStateTracker.from_events(sender_id, events[: cut + 1], self.domain.slots)
        # One window start per conversation; the events table keeps the history.
        self._drop_window(session, sender_id)
        session.add(TrackerWindow(sender_id=sender_id, last_event_id=ids[cut], state=json.dumps(_state(before))))
        logger.debug("tracker window moved on (%d events loaded)", len(events) - cut - 1)

    @staticmethod
    def _drop_window(session: Any, sender_id: str) -> None:
        session.query(TrackerWindow).filter(TrackerWindow.sender_id == sender_id).delete(synchronize_session=False)


def _state(tracker: DialogueStateTracker) -> dict[str, Any]:
    """What a window's leading events must restore: the session's start, slots, active form, pause."""
    started = [event for event in tracker.events if isinstance(event, SessionStarted)]
    first = tracker.events[0].timestamp if tracker.events else None
    initial = {slot.name: slot.initial_value for slot in tracker.slots.values()}
    return {
        "session_started_at": started[-1].timestamp if started else first,
        "cut_at": tracker.events[-1].timestamp,
        "slots": {name: value for name, value in tracker.current_slot_values().items() if value != initial.get(name)},
        "active_loop": tracker.active_loop_name,
        "paused": tracker.is_paused(),
    }


def _leading_events(state: dict[str, Any]) -> list[dict[str, Any]]:
    """The events Rasa writes when a session starts with its slots carried over, with the window's state."""
    at = state["cut_at"]
    events: list[dict[str, Any]] = [{"event": "session_started", "timestamp": state["session_started_at"]}]
    events += [
        {"event": "slot", "name": name, "value": value, "timestamp": at} for name, value in state["slots"].items()
    ]
    if state.get("active_loop"):
        events.append({"event": "active_loop", "name": state["active_loop"], "timestamp": at})
    if state.get("paused"):
        events.append({"event": "pause", "timestamp": at})
    events.append({"event": "action", "name": ACTION_LISTEN_NAME, "timestamp": at})
    return events
