"""What the send-time checks ask of the database: per row as they go, or once for a whole batch.

The checks themselves are scheduler.jobs._prepare. Three of its questions are
about more than the row in hand, and this module answers them:

- has the patient's number opted out (the consent ledger, else the patient's flag)?
- how many automated texts has the patient had today, for the daily cap?
- which conversation does the message go into (opened on first contact)?

`RowFacts` asks the database each time: one row, or the careful path after a
batch broke. `BatchFacts` reads the answers for every row of a batch in a few
queries up front (the rows, their subjects, consent, today's texts, the
conversations), and keeps them current as the batch decides its rows, so that
preparing 25 rows costs about as many statements as preparing one.
"""

from collections import defaultdict
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, selectinload

from relay.models import Appointment, ConsentEvent, Conversation, Patient, PlannedOutreach, Referral
from relay.models.outreach import SENT_STATES, OutreachChannel, OutreachState
from relay.records import consent, conversations

# Rows that may still go out today: what a lower one of them is about to send counts against the cap.
ON_ITS_WAY = (OutreachState.QUEUED, OutreachState.SENDING)


def local_day(now: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The start and end of the calendar day of `now` in `zone`."""
    start = datetime.combine(now.astimezone(zone).date(), time(0), tzinfo=zone)
    return start, datetime.combine(start.date() + timedelta(days=1), time(0), tzinfo=zone)


class RowFacts:
    """Each answer read from the database when it is asked for."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def opted_out(self, patient: Patient) -> bool:
        return patient.phone is None or consent.is_opted_out(self.session, patient.phone, patient=patient)

    def automated_today(self, outreach: PlannedOutreach, *, zone: ZoneInfo, now: datetime) -> int:
        """Texts this patient got from us (or is getting right now) on the local calendar day of `now`.

        A row on its way (queued, or being sent by another worker) counts only if
        its id is lower: of two rows racing for the last place of the day the
        lower one goes, and the cap holds without a lock. Queued counts too: a
        lower row not yet claimed when a higher one is checked would otherwise be
        missed by it, while it misses the higher one in turn (both went).
        """
        start, end = local_day(now, zone)
        row = PlannedOutreach
        sent = and_(row.state.in_(SENT_STATES), row.sent_at >= start, row.sent_at < end)
        sending = and_(row.state.in_(ON_ITS_WAY), row.id < outreach.id, row.updated_at >= start, row.updated_at < end)
        return self.session.execute(
            select(func.count()).where(
                row.patient_id == outreach.patient_id,
                row.channel == OutreachChannel.SMS,
                row.id != outreach.id,
                or_(sent, sending),
            )
        ).scalar_one()

    def conversation(self, patient: Patient, *, now: datetime) -> Conversation:
        return conversations.find_or_open(self.session, phone=_textable(patient), now=now, patient=patient)

    def will_send(self, outreach: PlannedOutreach) -> None:
        """Nothing to remember: the row's own state (`sending`) is what other rows count."""


class BatchFacts:
    """The answers for every row of a batch, read up front; the batch's own decisions kept in step.

    What is read here is as old as the batch, a fraction of a second (a batch
    is prepared in one go only when it can all go out within a second, see
    scheduler.jobs). New conversations are added to the session, not
    flushed: the batch flushes them with its messages. Should another
    process open the same conversation meanwhile, that flush fails on the
    unique phone and the batch goes row by row, where find_or_open settles it.
    """

    # Any local calendar day that contains `now` began less than this long ago.
    _DAY_HORIZON = timedelta(days=2)

    def __init__(self, session: Session, rows: list[PlannedOutreach], *, now: datetime) -> None:
        self.session = session
        self._held = _load_subjects(session, rows)  # the identity map keeps only what is referred to
        patients = {row.patient_id: session.get_one(Patient, row.patient_id) for row in rows}
        phones = {patient.phone for patient in patients.values() if patient.phone is not None}
        self._latest_consent: dict[str, ConsentEvent] = {}
        for event in session.scalars(
            select(ConsentEvent)
            .where(ConsentEvent.phone.in_(phones))
            .order_by(ConsentEvent.phone, ConsentEvent.at.desc(), ConsentEvent.id.desc())
        ):
            self._latest_consent.setdefault(event.phone, event)
        self._conversations = {
            conversation.phone: conversation
            for conversation in session.scalars(select(Conversation).where(Conversation.phone.in_(phones)))
        }
        row = PlannedOutreach
        since = now - self._DAY_HORIZON
        # patient -> (row id, sent or still sending, when it was sent or claimed)
        self._today: dict[int, list[tuple[int, bool, datetime]]] = defaultdict(list)
        for outreach_id, patient_id, state, sent_at, updated_at in session.execute(
            select(row.id, row.patient_id, row.state, row.sent_at, row.updated_at).where(
                row.patient_id.in_(patients),
                row.channel == OutreachChannel.SMS,
                row.id.not_in([r.id for r in rows]),
                or_(and_(row.state.in_(SENT_STATES), row.sent_at >= since),
                    and_(row.state.in_(ON_ITS_WAY), row.updated_at >= since)),
            )
        ):  # fmt: skip
            sent = state in SENT_STATES
            self._today[patient_id].append((outreach_id, sent, sent_at if sent and sent_at else updated_at))
        self._going: dict[int, list[int]] = defaultdict(list)  # patient -> rows of this batch that will be sent

    def opted_out(self, patient: Patient) -> bool:
        if patient.phone is None:
            return True
        event = self._latest_consent.get(patient.phone)
        return consent.opted_out_by(event, patient=patient)

    def automated_today(self, outreach: PlannedOutreach, *, zone: ZoneInfo, now: datetime) -> int:
        """As RowFacts.automated_today; the batch's rows count as `sending` once decided to go.

        The batch decides its rows in id order, so every lower row of the same
        patient has been decided by then.
        """
        start, end = local_day(now, zone)
        count = 0
        for outreach_id, sent, at in self._today.get(outreach.patient_id, ()):
            if sent:
                count += start <= at < end
            else:
                count += outreach_id < outreach.id and start <= at < end
        return count + sum(1 for other in self._going.get(outreach.patient_id, ()) if other < outreach.id)

    def conversation(self, patient: Patient, *, now: datetime) -> Conversation:
        phone = _textable(patient)
        conversation = self._conversations.get(phone)
        if conversation is None:
            conversation = Conversation(phone=phone, patient_id=patient.id)
            self.session.add(conversation)
            self._conversations[phone] = conversation
        return conversation

    def will_send(self, outreach: PlannedOutreach) -> None:
        self._going[outreach.patient_id].append(outreach.id)


def _textable(patient: Patient) -> str:
    """The number a message goes to; `opted_out` has already turned away patients without one."""
    if patient.phone is None:
        raise ValueError(f"patient {patient.id} has no mobile number")
    return patient.phone


def load_for_sending(session: Session, outreach_ids: list[int]) -> tuple[list[PlannedOutreach], list[object]]:
    """The rows, and what the checks and the templates will ask of them, in a few queries.

    Returns the rows and every object loaded with them; the caller holds the
    latter while it works, because the session's identity map only keeps what
    something else refers to. Later lookups of those objects (`session.get`,
    relationships) are then no query at all.
    """
    rows = list(session.scalars(select(PlannedOutreach).where(PlannedOutreach.id.in_(outreach_ids))))
    if len(rows) < 2:
        return rows, []  # for one row, loading as it goes asks no more than this would
    return rows, _load_subjects(session, rows)


def _load_subjects(session: Session, rows: list[PlannedOutreach]) -> list[object]:
    referral_loads = (selectinload(Referral.patient), selectinload(Referral.specialist),
                      selectinload(Referral.referring_provider))  # fmt: skip
    loaded: list[object] = []
    appointment_ids = {row.appointment_id for row in rows if row.appointment_id is not None}
    if appointment_ids:
        appointments = session.scalars(
            select(Appointment)
            .where(Appointment.id.in_(appointment_ids))
            .options(selectinload(Appointment.referral).options(*referral_loads))
        ).all()
        loaded += [*appointments, *(appointment.referral for appointment in appointments)]
    # Only what the appointments did not bring along already.
    referral_ids = {row.referral_id for row in rows if row.referral_id is not None}
    referral_ids -= {obj.id for obj in loaded if isinstance(obj, Referral)}
    if referral_ids:
        loaded += session.scalars(select(Referral).where(Referral.id.in_(referral_ids)).options(*referral_loads)).all()
    referrals = [obj for obj in loaded if isinstance(obj, Referral)]
    for referral in referrals:
        loaded += [referral.patient, referral.specialist, referral.referring_provider]
    patient_ids = {row.patient_id for row in rows} - {referral.patient_id for referral in referrals}
    if patient_ids:
        loaded += session.scalars(select(Patient).where(Patient.id.in_(patient_ids))).all()
    return loaded
