"""Find referrals the way front-desk staff ask for them: a name, a phone number, its last four digits, an MRN,
a referral id; and, with nothing asked, the referrals that need someone's attention.

One box, several readings at once: "2001" is the end of a referral id and the
last digits of a phone, "chen" a name, "(312) 555-0147" a phone in whatever
format staff type it (parsed to E.164 as the patients' numbers are stored).
A referral matches when any reading matches; results are capped, and the
caller is told when there were more.
"""

import re
from contextlib import suppress
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, case, false, func, or_, select
from sqlalchemy.orm import Session, contains_eager, selectinload

from relay.core.phones import InvalidPhoneNumber, to_e164
from relay.models import Patient, Referral, ReferralPriority, ReferralStatus

DEFAULT_LIMIT = 50
# Statuses in which the referral waits on the clinic: to be triaged, approved, booked, or rebooked after a miss.
NEEDS_ATTENTION = (
    ReferralStatus.RECEIVED,
    ReferralStatus.AUTHORIZATION_PENDING,
    ReferralStatus.READY_TO_SCHEDULE,
    ReferralStatus.NO_SHOW,
)
# Characters a typed phone number is made of; anything else makes the query no phone number.
_PHONE_SHAPE = re.compile(r"^\+?[\d\s().\-]+$")
LAST_DIGITS = 4
# Fewer digits than this cannot be a whole number in any region.
_MIN_PHONE_DIGITS = 7


# What a result row shows besides the patient, loaded in two queries rather than two per row.
_SHOWN = (selectinload(Referral.specialist), selectinload(Referral.appointments))


@dataclass(frozen=True)
class Found:
    referrals: list[Referral]
    more: bool  # there were more matches than `limit`


def search_referrals(session: Session, *, query: str, region: str, limit: int = DEFAULT_LIMIT) -> Found:
    """Referrals whose patient's name, phone, last phone digits or MRN, or whose id, match `query`.

    An empty query finds the referrals needing attention (see `needs_attention`).
    Results come with their patient loaded, ordered by patient name then newest referral first.
    """
    text = " ".join(query.split())
    if not text:
        return needs_attention(session, limit=limit)
    statement = (
        select(Referral)
        .join(Referral.patient)
        .options(contains_eager(Referral.patient), *_SHOWN)
        .where(or_(*_readings(text, region)))
        .order_by(func.lower(Patient.name), Referral.received_on.desc(), Referral.id.desc())
    )
    return _capped(session, statement, limit)


def needs_attention(session: Session, *, limit: int = DEFAULT_LIMIT) -> Found:
    """Open referrals waiting on the clinic: emergency and urgent first, then the longest waiting."""
    rank = case({ReferralPriority.EMERGENCY: 0, ReferralPriority.URGENT: 1}, value=Referral.priority, else_=2)
    statement = (
        select(Referral)
        .join(Referral.patient)
        .options(contains_eager(Referral.patient), *_SHOWN)
        .where(Referral.status.in_(NEEDS_ATTENTION))
        .order_by(rank, Referral.received_on, Referral.id)
    )
    return _capped(session, statement, limit)


def _capped(session: Session, statement, limit: int) -> Found:
    rows = list(session.scalars(statement.limit(limit + 1)).unique())
    return Found(referrals=rows[:limit], more=len(rows) > limit)


def _readings(text: str, region: str) -> list[ColumnElement[bool]]:
    """Every way the query may be meant, as conditions on Referral joined to Patient."""
    lowered = text.lower()
    readings: list[ColumnElement[bool]] = [
        func.lower(Referral.external_id).contains(lowered, autoescape=True),
        func.lower(Patient.mrn).contains(lowered, autoescape=True),
        # Every word somewhere in the name: "carter james" and "jam car" find James Carter.
        _all_words_in_name(lowered.split()),
    ]
    if _PHONE_SHAPE.match(text):
        digits = "".join(ch for ch in text if ch.isdigit())
        if len(digits) == LAST_DIGITS:
            readings.append(Patient.phone.endswith(digits, autoescape=True))
        elif len(digits) >= _MIN_PHONE_DIGITS:
            with suppress(InvalidPhoneNumber):  # digits, but no number in this region: the other readings remain
                readings.append(Patient.phone == to_e164(text, region))
    return readings


def _all_words_in_name(words: list[str]) -> ColumnElement[bool]:
    if not words:
        return false()
    name = func.lower(Patient.name)
    return and_(*(name.contains(word, autoescape=True) for word in words))
