"""Console sessions kept on the server: the browser holds a random token, the database its sha256.

A session whose password was right but whose code is still due is a half session
(`second_factor_done` False): it can only post the code. A session without a
request for `console_idle_minutes` is over.
"""

import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from relay.core.settings import get_settings
from relay.models import StaffSession, StaffUser
from relay.records.audit import record
from relay.staff.accounts import actor, hash_token


def idle_limit() -> timedelta:
    return timedelta(minutes=get_settings().console_idle_minutes)


def start(
    session: Session, *, user: StaffUser, now: datetime, second_factor_done: bool = False
) -> tuple[StaffSession, str]:
    """A new session and the raw token for the cookie (shown once, never stored)."""
    token = secrets.token_urlsafe(32)
    staff_session = StaffSession(
        user_id=user.id,
        token_hash=hash_token(token),
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        last_seen_at=now,
        second_factor_done=second_factor_done,
    )
    session.add(staff_session)
    session.flush()
    return staff_session, token


def complete(session: Session, *, half: StaffSession, user: StaffUser, now: datetime) -> tuple[StaffSession, str]:
    """Both factors done: the half session ends and a full one, with a new token, takes its place."""
    end(session, staff_session=half, now=now, audit=False)
    full, token = start(session, user=user, now=now, second_factor_done=True)
    record(session, actor=actor(user), action="staff.signed_in", now=now)
    return full, token


def lookup(session: Session, *, token: str | None, now: datetime) -> StaffSession | None:
    """The live session this raw token opens, or None (unknown, ended, idle, or its user disabled)."""
    if not token:
        return None
    staff_session = session.scalars(select(StaffSession).where(StaffSession.token_hash == hash_token(token))).first()
    if staff_session is None or staff_session.ended_at is not None:
        return None
    if now - staff_session.last_seen_at > idle_limit():
        staff_session.ended_at = staff_session.last_seen_at + idle_limit()
        record(session, actor=f"staff:{staff_session.user_id}", action="staff.session_expired", now=now)
        session.flush()
        return None
    user = session.get(StaffUser, staff_session.user_id)
    if user is None or not user.active:
        return None
    return staff_session


def touch(session: Session, *, staff_session: StaffSession, now: datetime) -> None:
    """A request in the session keeps it alive for another idle period."""
    if now > staff_session.last_seen_at:
        staff_session.last_seen_at = now
        session.flush()


def end(session: Session, *, staff_session: StaffSession, now: datetime, audit: bool = True) -> None:
    staff_session.ended_at = now
    session.flush()
    if audit:
        record(session, actor=f"staff:{staff_session.user_id}", action="staff.signed_out", now=now)
