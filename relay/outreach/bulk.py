"""Plan every referral and appointment at once: after an import, a reseed or a cadence change.

`replan_all` makes exactly the same rows as relay.outreach.reconcile would,
referral by referral, but set-based: a few queries per range of referrals,
the same pure functions (relay.outreach.plan), bulk writes (COPY on
PostgreSQL, one executemany straight on the driver on SQLite).
"""

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from functools import partial
from operator import itemgetter
from typing import Any

from sqlalchemy import Column, ColumnElement, Row, String, bindparam, func, inspect, or_, select, type_coerce, update
from sqlalchemy.orm import Session

from relay.core.clock import require_aware
from relay.language.languages import language_of
from relay.models import Appointment, AuditEvent, ConsentEvent, Patient, PlannedOutreach, Referral
from relay.models.base import table_of
from relay.models.outreach import APPOINTMENT_KINDS, PENDING_STATES, REFERRAL_KINDS, OutreachState
from relay.outreach.cadence import Cadence, load_cadence
from relay.outreach.plan import (
    NO_CONSENT,
    STATUS_ACTIONS,
    SUPERSEDED,
    AppointmentFacts,
    Audience,
    plan_appointment,
    plan_referral,
    referral_facts_from,
    status_entry,
)
from relay.outreach.reconcile import diff_rows, new_row
from relay.records.clinics import get_clinic

# A plain Core row of any columns: the bulk path reads columns, not ORM objects.
AnyRow = Row[*tuple[Any, ...]]


def replan_all(session: Session, *, now: datetime, chunk_size: int = 5000) -> None:
    """Plan every referral and appointment: after an import, a reseed or a cadence change.

    The same rows as `replan_referral` and then `replan_appointment` for each
    of its appointments, referral by referral (tests/relay/outreach hold the
    two side by side), but set-based: the facts of `chunk_size` referrals
    come in a handful of queries, the same pure functions plan and diff them,
    and new rows go in with one multi-row INSERT, state changes with a few
    UPDATEs. One referral at a time costs a dozen round trips per appointment,
    which held an import of 100,000 appointments to about 300 a second (`make
    bench`). Subjects are independent (each reads and writes only its own
    rows), so the order of the writes does not matter.
    """
    require_aware(now, "now")
    session.flush()
    referral_ids = session.scalars(select(Referral.__table__.c.id).order_by(Referral.__table__.c.id)).all()
    if not referral_ids:
        return
    cadence, clinic = load_cadence(), get_clinic(session)
    quiet_start, quiet_end = cadence.quiet_window(clinic)
    context = _BulkContext(cadence=cadence, now=now, clinic_tz=clinic.timezone, quiet_start=quiet_start,
                           quiet_end=quiet_end, strays=_stray_rows(session))  # fmt: skip
    for start in range(0, len(referral_ids), chunk_size):
        chunk = referral_ids[start : start + chunk_size]
        # Every id between the first and the last of the chunk is in it: ranges need no long IN lists.
        _replan_range(session, context, low=chunk[0], high=chunk[-1])


def replan_referrals(session: Session, *, referral_ids: Iterable[int], now: datetime, chunk_size: int = 5000) -> None:
    """`replan_all` for some referrals (those an import touched), in ranges of ids.

    A range also replans the untouched referrals whose ids fall inside it, which
    is harmless (planning is idempotent) and cheaper than long IN lists; a wide
    gap between touched ids starts a new range so that the work stays near the
    touched ones.
    """
    require_aware(now, "now")
    ids = sorted(set(referral_ids))
    if not ids:
        return
    session.flush()
    cadence, clinic = load_cadence(), get_clinic(session)
    quiet_start, quiet_end = cadence.quiet_window(clinic)
    context = _BulkContext(cadence=cadence, now=now, clinic_tz=clinic.timezone, quiet_start=quiet_start,
                           quiet_end=quiet_end, strays=_stray_rows(session))  # fmt: skip
    low = previous = ids[0]
    for referral_id in ids[1:]:
        if referral_id - low >= chunk_size or referral_id - previous > 64:
            _replan_range(session, context, low=low, high=previous)
            low = referral_id
        previous = referral_id
    _replan_range(session, context, low=low, high=previous)


@dataclass
class _BulkContext:
    cadence: Cadence
    now: datetime
    clinic_tz: str
    quiet_start: time
    quiet_end: time
    strays: dict[int, list] = field(default_factory=dict)  # see `_stray_rows`
    audiences: dict[str, Audience] = field(default_factory=dict)

    def audience(self, patient_tz: str | None) -> Audience:
        tz = patient_tz or self.clinic_tz
        if tz not in self.audiences:
            self.audiences[tz] = Audience(tz=tz, quiet_start=self.quiet_start, quiet_end=self.quiet_end)
        return self.audiences[tz]


def _replan_range(session: Session, context: _BulkContext, *, low: int, high: int) -> None:
    """`replan_all` for the referrals with ids from `low` to `high`: read in bulk, plan, write in bulk."""
    facts = _RangeFacts.read(session, low=low, high=high, strays=context.strays)
    moves = _Moves()
    # The rows are planned while they are written: PostgreSQL stores the first ones as we plan the next.
    _insert(session, _new_rows(facts, context, moves))
    _move_all(session, moves)


@dataclass
class _Moves:
    """State changes of existing rows, collected while planning a range, made afterwards."""

    no_consent: list[int] = field(default_factory=list)
    superseded: list[int] = field(default_factory=list)
    revived: list[dict] = field(default_factory=list)


def _new_rows(facts: "_RangeFacts", context: _BulkContext, moves: _Moves) -> Iterator[dict]:
    """Plan the range: yield the rows to add, and put the state changes in `moves`."""
    cadence, now = context.cadence, context.now
    for referral in facts.referrals:
        patient = facts.patients[referral.patient_id]
        audience = context.audience(patient.timezone)
        consented = facts.consent.get(patient.phone, patient.sms_consent)
        language = language_of(patient.language)
        rows = facts.referral_rows[referral.id]
        since, actor = status_entry(referral.id, referral.status, event=facts.status_events.get(referral.id),
                                    keys=partial(_keys, rows), now=now)  # fmt: skip
        appointments = facts.appointments[referral.id]
        facts_of_referral = referral_facts_from(referral, since=since, actor=actor, appointments=appointments,
                                            audience=audience)  # fmt: skip
        subjects = [(plan_referral(facts_of_referral, cadence), rows)]
        for appointment in appointments:
            appointment_facts_ = AppointmentFacts(id=appointment.id, start_at=appointment.start_at,
                                                  status=appointment.status, audience=audience)  # fmt: skip
            subjects.append(
                (plan_appointment(appointment_facts_, cadence, now), facts.appointment_rows[appointment.id])
            )
        for desired, existing in subjects:
            diff = diff_rows(desired, existing, consented=consented, now=now)
            for item, state, code in diff.new:
                yield new_row(item, state, code, patient_id=patient.id, referral_id=referral.id, language=language)
            moves.no_consent.extend(row.id for row in diff.no_consent)
            moves.superseded.extend(row.id for row in diff.superseded)
            moves.revived.extend(
                {
                    "row_id": row.id,
                    "from_state": row.state,
                    "new_due_at": item.due_at,
                    "new_valid_until": item.valid_until,
                    "new_language": language,
                    "new_template": item.template,
                }
                for row, item in diff.revived
            )


@dataclass
class _RangeFacts:
    """What planning a range of referrals reads, in six queries whatever the size of the range."""

    referrals: Sequence[AnyRow]
    patients: dict[int, AnyRow]
    consent: dict[str, bool]  # phone -> the latest ledger event's answer
    appointments: defaultdict[int, list[AnyRow]]  # referral id -> its appointments by start time, then id
    status_events: dict[int, AnyRow]  # referral id -> its latest status event
    referral_rows: defaultdict[int, list[AnyRow]]  # referral id -> its rows of referral kinds
    appointment_rows: defaultdict[int, list[AnyRow]]  # appointment id -> its rows of appointment kinds

    @classmethod
    def read(cls, session: Session, *, low: int, high: int, strays: dict[int, list[AnyRow]]) -> "_RangeFacts":
        # Table columns, not ORM attributes: plain Core rows, without the ORM's per-row loading work.
        referral, patient, appointment = table_of(Referral).c, table_of(Patient).c, table_of(Appointment).c
        ledger, audit, row = table_of(ConsentEvent).c, table_of(AuditEvent).c, table_of(PlannedOutreach).c
        in_range = referral.id.between(low, high)
        referrals = session.execute(
            select(
                referral.id,
                referral.patient_id,
                _as_text(referral.status),
                _as_text(referral.type),
                _as_text(referral.priority),
                _as_text(referral.authorization_status),
            )
            .where(in_range)
            .order_by(referral.id)
        ).all()
        of_referrals = select(referral.patient_id).where(in_range)
        patients = {
            found.id: found
            for found in session.execute(
                select(patient.id, patient.phone, patient.timezone, patient.language, patient.sms_consent).where(
                    patient.id.in_(of_referrals)
                )
            ).all()
        }
        phones = select(patient.phone).where(patient.id.in_(of_referrals))
        events = select(ledger.phone, ledger.consented).where(ledger.phone.in_(phones))
        # Oldest first: for each phone, the latest event is the one the dict keeps.
        consent: dict[str, bool] = dict(session.execute(events.order_by(ledger.phone, ledger.at, ledger.id)).all())
        appointments: defaultdict[int, list[AnyRow]] = defaultdict(list)
        for found in session.execute(
            select(
                appointment.id,
                appointment.referral_id,
                appointment.start_at,
                _as_text(appointment.status),
                appointment.duration_minutes,
            )
            .where(appointment.referral_id.between(low, high))
            .order_by(appointment.referral_id, appointment.start_at, appointment.id)
        ).all():
            appointments[found.referral_id].append(found)
        latest = (
            select(func.max(audit.id))
            .where(audit.referral_id.between(low, high), audit.action.in_(tuple(STATUS_ACTIONS)))
            .group_by(audit.referral_id)
        )
        status_events = {
            event.referral_id: event
            for event in session.execute(
                select(audit.referral_id, audit.action, audit.details, audit.at, audit.actor).where(
                    audit.id.in_(latest)
                )
            ).all()
        }
        # One index range scan finds the range's rows of both sorts: the planner gives an appointment's
        # rows its referral's id. The few that lack it come from `strays` (see `_stray_rows`).
        referral_of = {a.id: a.referral_id for listed in appointments.values() for a in listed}
        referral_rows: defaultdict[int, list[AnyRow]] = defaultdict(list)
        appointment_rows: defaultdict[int, list[AnyRow]] = defaultdict(list)
        in_range_rows = select(*_row_columns(), _as_text(row.kind)).where(row.referral_id.between(low, high))
        for plan_row in session.execute(in_range_rows).all():
            if plan_row.kind in REFERRAL_KINDS:
                referral_rows[plan_row.referral_id].append(plan_row)
            elif referral_of.get(plan_row.appointment_id) == plan_row.referral_id:
                appointment_rows[plan_row.appointment_id].append(plan_row)
        for appointment_id in referral_of.keys() & strays.keys():
            appointment_rows[appointment_id].extend(strays[appointment_id])
        return cls(referrals, patients, consent, appointments, status_events, referral_rows, appointment_rows)


def _keys(rows: list[AnyRow]) -> list[str]:
    return [row.idempotency_key for row in rows]


def _as_text(column: Column[Any]) -> ColumnElement[Any]:
    """A state or kind column read as the plain text it is stored as, under its own name.

    A StrEnum member and its text compare and hash alike, so the plan is the
    same; reading 100,000 rows' states as text skips a conversion per value
    that cost a fifth of `replan_all`'s reading (make bench, SQLite).
    """
    return type_coerce(column, String()).label(column.key)


def _row_columns() -> tuple[ColumnElement[Any], ...]:
    """What the diff needs of an existing row."""
    row = table_of(PlannedOutreach).c
    return (row.id, row.referral_id, row.appointment_id, row.idempotency_key, _as_text(row.state), row.error_code)


def _stray_rows(session: Session) -> defaultdict[int, list[AnyRow]]:
    """Appointment rows whose referral_id is not their appointment's referral (None, or another).

    The planner never writes such rows, but they are part of their
    appointment's plan all the same, so `replan_all` finds them in one query
    before it goes range by range.
    """
    row, appointment = table_of(PlannedOutreach).c, table_of(Appointment).c
    strays: defaultdict[int, list[AnyRow]] = defaultdict(list)
    for found in session.execute(
        select(*_row_columns())
        .join_from(table_of(PlannedOutreach), table_of(Appointment), row.appointment_id == appointment.id)
        .where(
            row.kind.in_(APPOINTMENT_KINDS), or_(row.referral_id.is_(None), row.referral_id != appointment.referral_id)
        )
    ).all():
        strays[found.appointment_id].append(found)
    return strays


def _move_all(session: Session, moves: _Moves) -> None:
    """The bulk path's state changes, with the same conditions on state as `_move`."""
    table = table_of(PlannedOutreach)
    moved_at = datetime.now(UTC)
    no_consent, superseded, revived = moves.no_consent, moves.superseded, moves.revived
    for ids, values in ((no_consent, {"state": OutreachState.SKIPPED, "error_code": NO_CONSENT}),
                        (superseded, {"state": OutreachState.CANCELLED, "error_code": SUPERSEDED})):  # fmt: skip
        for start in range(0, len(ids), 500):
            session.execute(
                update(table)
                .where(table.c.id.in_(ids[start : start + 500]), table.c.state.in_(PENDING_STATES))
                .values(**values, updated_at=moved_at)
            )
    if revived:
        session.execute(
            update(table)
            .where(table.c.id == bindparam("row_id"), table.c.state == bindparam("from_state"))
            .values(
                state=OutreachState.PLANNED,
                error_code=None,
                due_at=bindparam("new_due_at"),
                valid_until=bindparam("new_valid_until"),
                language=bindparam("new_language"),
                template=bindparam("new_template"),
                updated_at=moved_at,
            ),
            revived,
        )
    moved = {*no_consent, *superseded, *(r["row_id"] for r in revived)}
    if moved:
        # Loaded copies of the changed rows would be stale: `_move` expires them too.
        for instance in list(session):
            # The identity key, not `instance.id`: reading an expired attribute would load the row.
            if (
                isinstance(instance, PlannedOutreach)
                and (identity := inspect(instance).identity)
                and identity[0] in moved
            ):
                session.expire(instance)


def _insert(session: Session, rows: Iterator[dict]) -> None:
    """Add plan rows in bulk; created_at, updated_at and attempts take the columns' server defaults.

    PostgreSQL gets COPY: an executemany costs a round of binding and
    executing per row there, which made inserting an import's rows most of
    `replan_all`'s time (`make bench`); COPY streams them in one statement,
    and stores each row while the next ones are being planned. SQLite gets
    one executemany, which is what it is fastest with, straight on the driver
    (see `_sqlite_values`).
    """
    first = next(rows, None)
    if first is None:
        return
    table = table_of(PlannedOutreach)
    columns = tuple(first)
    if session.get_bind().dialect.name == "postgresql":
        values = itemgetter(*columns)
        driver_connection = session.connection().connection.driver_connection
        if driver_connection is None:
            raise RuntimeError("the session's connection has no driver connection")
        cursor = driver_connection.cursor()
        # SQL built from our own table and column names, never from input.
        with cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
            copy.write_row(values(first))
            for row in rows:
                copy.write_row(values(row))
        return
    connection = session.connection()
    stored = _sqlite_values(table, columns, connection.dialect)
    # The database's clock for the timestamps: one SQL expression instead of two bound values per row.
    sql = (f"INSERT INTO {table.name} ({', '.join(columns)}, created_at, updated_at) "
           f"VALUES ({', '.join('?' * len(columns))}, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)")  # fmt: skip
    connection.exec_driver_sql(sql, [stored(first), *map(stored, rows)])


class _Memo(dict):
    """A pure function's answers by argument, each worked out once."""

    def __init__(self, function: Callable) -> None:
        super().__init__()
        self.function = function

    def __missing__(self, key: object) -> object:
        value = self[key] = self.function(key)
        return value


def _sqlite_values(table, columns: tuple[str, ...], dialect) -> Callable[[dict], tuple]:
    """Turns a row into the values SQLite stores, as SQLAlchemy's own bind processors would.

    SQLAlchemy runs the processors of every value of every row (two
    datetimes per row here: UTCDateTime, then SQLite's DATETIME formatting),
    which was a fifth to a third of an import's time on SQLite (100,000 and
    20,000 appointments). A plan has few distinct due times, so each
    processor is memoised by value, and the rows go to the driver as they are.
    """
    values = itemgetter(*columns)
    converted = []
    for index, name in enumerate(columns):
        processor = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        if processor is not None:
            converted.append((index, _Memo(processor)))
    if not converted:
        return values

    def stored(row: dict) -> tuple:
        found = list(values(row))
        for index, memo in converted:
            found[index] = memo[found[index]]
        return tuple(found)

    return stored
