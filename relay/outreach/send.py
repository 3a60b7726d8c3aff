"""The send job's work: claimed rows re-checked, sent once, recorded.

scheduler.jobs runs `execute` for one row or a batch; the sweep enqueues
them. The row is the truth and RQ only executes, so everything here is
written so a job may run twice, late, or die at any line without a second
message:

1. Claim: one conditional UPDATE moves the rows from `queued` to `sending`;
   every other copy of the job finds nothing to claim and stops.
2. Check and store (relay.outreach.prepare), committed before the send.
3. Wait for a send slot of the sender number (relay.messaging.rate_limit), send
   with a status callback, record the SID: row `sent`, message `queued`.
   Refusals go to relay.outreach.outcomes (retry with backoff, opt-out, flagged
   number).

A batch (the sweep gives one job up to 25 rows when many are due) runs the
same steps with the database work shared, because per message it cost more
than the send itself (`make bench`, bench/profile_dispatch.py):

- one claim for all its rows; a row waits in `sending` until its turn, and
  no longer than the job may run;
- one transaction checks every row and stores every pending message
  (relay.outreach.send_facts.BatchFacts reads what the checks need in a few
  queries), committed before the first send. This is done only when the
  rate limit lets the whole batch go out within a second; otherwise, and
  whenever a row breaks that transaction, the rows go one at a time, each
  checked, stored and sent before the next (a broken row is counted as an
  attempt and the others go on);
- sends are recorded in groups of up to RECORD_GROUP_SECONDS when nothing
  paces them (_SentRecorder), each at once when the rate limit does.

A batch that dies leaves its rows in `sending`: with a pending message, which
the sweep looks up at Twilio (sent, or back in the plan), or without one,
which the sweep puts back in the plan as an interrupted send
(relay.outreach.recovery).
"""

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from time import monotonic

from rq.timeouts import BaseTimeoutException
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from relay.core.db import changed_rows, session_scope
from relay.core.phones import mask
from relay.core.redis_conn import get_redis
from relay.core.settings import get_settings
from relay.messaging.rate_limit import SenderRateLimiter
from relay.messaging.sms_sender import SmsGateway, SmsLookupUnavailable, SmsSendError, find_sent
from relay.models import Message, PlannedOutreach, utcnow
from relay.models.base import UTCDateTime, table_of
from relay.models.conversation import DeliveryStatus
from relay.models.outreach import OutreachState
from relay.outreach import outcomes
from relay.outreach.cadence import rate_limit_per_second
from relay.outreach.prepare import ReadyToSend, prepare
from relay.outreach.send_facts import BatchFacts, RowFacts, load_for_sending

log = logging.getLogger("relay.outreach.send")

# Rows of a batch are prepared together only if the rate limit lets them all go out within this.
PREPARE_AHEAD_SECONDS = 1.0
# Unpaced sends are recorded in groups spanning at most this long (see _SentRecorder).
RECORD_GROUP_SECONDS = 0.1
# Twilio's clock and ours may differ a little; a looked-up message must be this close to our send.
CLOCK_SKEW = timedelta(minutes=5)


def execute(outreach_ids: list[int], *, now: datetime | None) -> tuple[dict[int, str], list[Exception]]:
    """Claim the rows, then check, store, send and record them: all together, or one at a time."""
    with session_scope() as session:
        claimed = claim(session, outreach_ids, now=now or utcnow())
    results = {outreach_id: "not_claimed" for outreach_id in outreach_ids if outreach_id not in claimed}
    for outreach_id in results:
        log.info("outreach %s: not queued any more, nothing to do", outreach_id)
    errors: list[Exception] = []
    if not claimed:
        return results, errors
    per_second = rate_limit_per_second()
    recorder = _SentRecorder(group_seconds=0 if per_second > 0 else RECORD_GROUP_SECONDS)
    prepared = _prepare_together(claimed, now) if _goes_out_at_once(len(claimed), per_second) else None
    try:
        if prepared is None:
            _one_at_a_time(claimed, now, recorder, results, errors)
        else:
            for outreach_id, item in prepared.items():
                if isinstance(item, ReadyToSend):
                    item = _send(outreach_id, item, now or utcnow(), recorder)
                results[outreach_id] = item
    except Exception:  # RQ's job timeout included; a killed worker runs nothing more, and the sweep looks its sends up
        results.update(recorder.flush())  # what did go out is recorded, not left to the sweep's lookups
        raise
    results.update(recorder.flush())
    return results, errors


def _goes_out_at_once(rows: int, per_second: int) -> bool:
    """May these rows be prepared together? Only when the rate limit lets all of them go out within a second.

    The checks hold for the moment they are made: with the sender's limit at
    1 message/s a batch of 25 would take 25 s to send, long enough for quiet
    hours to begin or a STOP to arrive, so such rows are checked one at a
    time, each right before its send.
    """
    return rows > 1 and (per_second <= 0 or rows <= per_second * PREPARE_AHEAD_SECONDS)


def _prepare_together(claimed: list[int], now: datetime | None) -> dict[int, ReadyToSend | str] | None:
    """Check and store every claimed row in one transaction; None if any row broke (nothing is kept then).

    Rows are decided in id order, which is the order the daily cap ranks
    rows racing for the last place of a day (send_facts.BatchFacts).
    """
    at = now or utcnow()
    try:
        with session_scope() as session:
            rows = list(session.scalars(select(PlannedOutreach).where(PlannedOutreach.id.in_(claimed))))
            facts = BatchFacts(session, rows, now=at)
            decided = {row.id: prepare(session, row, at, facts) for row in sorted(rows, key=lambda row: row.id)}
        # Committed: conversations, messages and rows, each table in a statement or two.
    except BaseTimeoutException:
        raise
    except Exception as exc:  # the rows are tried again one at a time, which finds the broken one
        log.warning("a batch of %s rows could not be prepared together (%s); one at a time",
                    len(claimed), type(exc).__name__)  # fmt: skip
        return None
    return {outreach_id: decided[outreach_id] for outreach_id in claimed}


def _one_at_a_time(claimed: list[int], now: datetime | None, recorder: "_SentRecorder",
                   results: dict[int, str], errors: list[Exception]) -> None:  # fmt: skip
    """Each row checked, stored (committed) and sent before the next; a row that breaks is counted, the rest go on."""
    with session_scope() as session:
        try:
            rows, _held = load_for_sending(session, claimed)
        except Exception:
            for outreach_id in claimed:
                _count_broken_attempt(outreach_id, now or utcnow())
            raise
        by_id = {row.id: row for row in rows}
        facts = RowFacts(session)
        for outreach_id in claimed:
            at = now or utcnow()
            try:
                prepared = prepare(session, by_id[outreach_id], at, facts)
                session.commit()  # the pending message is stored before it is sent
            except BaseTimeoutException:
                raise  # RQ's job timeout ends the job; the sweep recovers what it leaves
            except Exception as exc:  # counted as an attempt, raised by the caller
                session.rollback()
                _count_broken_attempt(outreach_id, at)
                results[outreach_id] = "error"
                errors.append(exc)
                continue
            if isinstance(prepared, ReadyToSend):
                prepared = _send(outreach_id, prepared, at, recorder)
            results[outreach_id] = prepared


def _count_broken_attempt(outreach_id: int, now: datetime) -> None:
    """Nothing was sent; count the attempt so a row that always breaks ends as failed."""
    with session_scope() as session:
        if (outreach := _owned(session, outreach_id)) is not None:
            outcomes.retry_later(session, outreach, code="job_error", now=now)


def claim(session: Session, outreach_ids: list[int], *, now: datetime) -> list[int]:
    """Move the rows from queued to sending; each id goes to exactly one caller (returned in the given order)."""
    claimed = set(
        session.scalars(
            update(PlannedOutreach)
            .where(PlannedOutreach.id.in_(outreach_ids), PlannedOutreach.state == OutreachState.QUEUED)
            .values(state=OutreachState.SENDING, updated_at=now)
            .returning(PlannedOutreach.id)
            .execution_options(synchronize_session=False)
        )
    )
    return [outreach_id for outreach_id in outreach_ids if outreach_id in claimed]


_gateways = threading.local()


def _gateway() -> SmsGateway:
    """This thread's gateway for the current settings, kept from job to job.

    Kept, its HTTP connection to Twilio stays open (keep-alive) and the
    twilio client is built once per worker instead of once per message. One
    per thread, because the twilio HTTP client keeps each call's response on
    itself before returning it, so two threads sharing one could swap answers.
    """
    settings = get_settings()
    key = (settings.twilio_account_sid, settings.twilio_auth_token.get_secret_value(),
           settings.twilio_api_base_url, settings.base_url)  # fmt: skip
    cached = getattr(_gateways, "cached", None)
    if cached is None or cached[0] != key:
        cached = _gateways.cached = (key, SmsGateway(settings))
    return cached[1]


def _send(outreach_id: int, prepared: ReadyToSend, now: datetime, recorder: "_SentRecorder") -> str:
    """Take a send slot, send, and hand the result to the recorder ("sent" until it says otherwise)."""
    settings = get_settings()
    # Everything slow happens before the slot is taken, so the request follows it closely.
    gateway = _gateway()
    limiter = SenderRateLimiter(
        get_redis(), per_second=rate_limit_per_second(), guard_ms=settings.outreach_rate_limit_guard_ms
    )
    if not limiter.acquire(prepared.from_, max_wait=settings.outreach_rate_limit_max_wait_seconds):
        with session_scope() as session:
            return _give_back(
                session, outreach_id, prepared, now + timedelta(seconds=settings.outreach_rate_limit_retry_seconds)
            )
    try:
        sent = gateway.send(
            to=prepared.to, from_=prepared.from_, body=prepared.body, now=now, outbox_extra={"author": "system"}
        )
    except SmsSendError as exc:
        found = _went_out_after_all(prepared, now) if exc.maybe_sent else None
        if found is _UNKNOWN:
            log.warning("outreach %s: send unconfirmed; left for the sweep to resolve", outreach_id)
            return "unconfirmed"  # still `sending`, message pending: relay.outreach.recovery
        if found is None:
            with session_scope() as session:
                return _refused(session, outreach_id, prepared, exc, now)
        sent = found
    recorder.add(_Sent(outreach_id, prepared.message_id, prepared.to, sent.sid, sent.status, now))
    return "sent"


@dataclass(frozen=True)
class _Sent:
    outreach_id: int
    message_id: int
    to: str
    sid: str
    status: str
    at: datetime


class _SentRecorder:
    """Records sends that went out: each at once, or grouped over up to `group_seconds` in one transaction.

    Grouping saves a transaction (a commit, an fsync on SQLite) per message
    when nothing paces the sends. The cost is a wider window in which a dead
    worker leaves rows `sending` with their messages pending: the sweep then
    asks Twilio whether each went (resolve_stuck_sending), exactly as after
    a worker killed between one send and its record. A status callback that
    arrives before its send is recorded finds an unknown SID and is ignored,
    which is why groups stay a fraction of a second long.
    """

    def __init__(self, *, group_seconds: float) -> None:
        self.group_seconds = group_seconds
        self.results: dict[int, str] = {}
        self._waiting: list[_Sent] = []
        self._since = 0.0

    def add(self, sent: _Sent) -> None:
        if not self._waiting:
            self._since = monotonic()
        self._waiting.append(sent)
        if monotonic() - self._since >= self.group_seconds:
            self.flush()

    def flush(self) -> dict[int, str]:
        if self._waiting:
            waiting, self._waiting = self._waiting, []
            with session_scope() as session:
                self.results.update(_record_sent(session, waiting))
        return self.results


_UNKNOWN = object()


def _went_out_after_all(prepared: ReadyToSend, now: datetime):
    """After an unanswered request: the message if Twilio has it, None if not, _UNKNOWN if Twilio cannot say."""
    try:
        return find_sent(to=prepared.to, from_=prepared.from_, body=prepared.body, since=now - CLOCK_SKEW)
    except SmsLookupUnavailable:
        return _UNKNOWN


def _owned(session: Session, outreach_id: int) -> PlannedOutreach | None:
    outreach = session.get(PlannedOutreach, outreach_id)
    if outreach is None or outreach.state != OutreachState.SENDING:
        # Only the sweep takes a row from a job, and only long after the job
        # must have ended (sending_grace_seconds); this is a dead job's ghost.
        log.error("outreach %s: no longer ours to record (state %s)", outreach_id, outreach and outreach.state)
        return None
    return outreach


def _record_sent(session: Session, sends: list[_Sent]) -> dict[int, str]:
    """Twilio has these messages: their SIDs on the messages, the rows `sent`. Two statements for the lot."""
    messages, rows = table_of(Message), table_of(PlannedOutreach)
    session.execute(
        update(messages)
        .where(messages.c.id == bindparam("message"))
        .values(twilio_sid=bindparam("sid"), delivery_status=bindparam("status")),
        [{"message": sent.message_id, "sid": sent.sid, "status": sent.status} for sent in sends],
    )
    at = bindparam("at", type_=UTCDateTime())
    recorded = changed_rows(
        session.execute(
            update(rows)
            .where(rows.c.id == bindparam("outreach"), rows.c.state == OutreachState.SENDING)
            .values(
                state=OutreachState.SENT,
                twilio_sid=bindparam("sid"),
                sent_at=at,
                error_code=None,
                next_attempt_at=None,
                updated_at=at,
            ),
            [{"outreach": sent.outreach_id, "sid": sent.sid, "at": sent.at} for sent in sends],
        )
    )
    unrecorded: set[int] = set()
    if recorded != len(sends):  # some row is no longer ours: find which
        ids = [sent.outreach_id for sent in sends]
        holding = dict(session.execute(select(rows.c.id, rows.c.twilio_sid).where(rows.c.id.in_(ids))).all())
        unrecorded = {sent.outreach_id for sent in sends if holding.get(sent.outreach_id) != sent.sid}
    results = {}
    for sent in sends:
        if sent.outreach_id in unrecorded:
            _owned(session, sent.outreach_id)  # logs whose it is now
            results[sent.outreach_id] = "sent:unrecorded"
        else:
            log.info("outreach %s sent sid=%s to=%s", sent.outreach_id, sent.sid, mask(sent.to))
            results[sent.outreach_id] = "sent"
    return results


def _refused(session: Session, outreach_id: int, prepared: ReadyToSend, exc: SmsSendError, now: datetime) -> str:
    outreach = _owned(session, outreach_id)
    if outreach is None:
        return "refused:unrecorded"
    label = outcomes.error_code(exc.code, exc.status)
    outcome = outcomes.after_refusal(session, outreach, code=exc.code, label=label, temporary=exc.retryable, now=now)
    message = session.get_one(Message, prepared.message_id)
    message.delivery_status = (
        DeliveryStatus.NOT_SENT if outreach.state == OutreachState.PLANNED else DeliveryStatus.FAILED
    )
    log.info("outreach %s refused code=%s -> %s", outreach_id, label, outcome)
    return f"{outcome}:{label}"


def _give_back(session: Session, outreach_id: int, prepared: ReadyToSend, when: datetime) -> str:
    """No send slot in time: back to the plan shortly, without counting an attempt."""
    outreach = _owned(session, outreach_id)
    if outreach is None:
        return "rate_limited:unrecorded"
    outreach.state, outreach.next_attempt_at = OutreachState.PLANNED, when
    session.get_one(Message, prepared.message_id).delivery_status = DeliveryStatus.NOT_SENT
    log.info("outreach %s: rate limited, back to the plan", outreach_id)
    return "rate_limited"
