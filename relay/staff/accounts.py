"""Staff accounts: creation, enrolment, passwords (argon2), the TOTP second factor and lockout.

Every function takes `now`: the console passes its own clock, so tests can move time.
Audit events name the user and the step, never a password, a code or a secret.
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cache

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from relay.core.settings import get_settings
from relay.models import AuditEvent, StaffRole, StaffSession, StaffUser
from relay.records.audit import record

MIN_PASSWORD_LENGTH = 12
# Argon2 hashes any length, but a megabyte "password" is an attack, not a password.
MAX_PASSWORD_LENGTH = 256
TOTP_ISSUER = "Relay"


@cache
def _hasher_for(cost: str) -> PasswordHasher:
    if cost == "test":
        # The same argon2id, at a cost a test suite can pay hundreds of times (never in production: settings).
        return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    return PasswordHasher()


def _hasher() -> PasswordHasher:
    settings = get_settings()
    # Whatever the setting says, production hashes at the standard cost.
    return _hasher_for("standard" if settings.is_production else settings.console_password_cost)


@cache
def _dummy_hash() -> str:
    """Verified when the email is unknown, so a wrong email takes as long as a wrong password."""
    return _hasher().hash(secrets.token_urlsafe(16))


class AccountError(ValueError):
    """A request about an account that cannot be done; the message is safe to show."""


class EmailTaken(AccountError):
    pass


class WeakPassword(AccountError):
    pass


class WrongCode(AccountError):
    pass


class Outcome(StrEnum):
    OK = "ok"
    REFUSED = "refused"  # wrong email, password or code: the page never says which
    LOCKED = "locked"  # too many failures: try again later


@dataclass(frozen=True)
class Attempt:
    outcome: Outcome
    user: StaffUser | None = None


def actor(user: StaffUser) -> str:
    return f"staff:{user.id}"


def hash_token(token: str) -> str:
    """What the database keeps of a link or session token: its sha256, never the token."""
    return hashlib.sha256(token.encode()).hexdigest()


def normalise_email(email: str) -> str:
    return email.strip().lower()


def find_by_email(session: Session, email: str) -> StaffUser | None:
    return session.scalars(select(StaffUser).where(StaffUser.email == normalise_email(email))).first()


def create_user(
    session: Session, *, email: str, role: StaffRole, now: datetime, name: str | None = None, by: str = "system"
) -> tuple[StaffUser, str]:
    """A new account without a password or second factor, and the raw token of its enrolment link.

    `by` is who the audit log names: "system" for the CLI, "staff:<id>" for an admin in the console.
    """
    email = normalise_email(email)
    if "@" not in email:
        raise AccountError("an email address is needed")
    if find_by_email(session, email) is not None:
        raise EmailTaken(f"{email} already has an account")
    user = StaffUser(email=email, name=(name or email.split("@")[0]).strip(), role=StaffRole(role), active=True)
    session.add(user)
    session.flush()
    record(session, actor=by, action="staff.created", details={"user_id": user.id, "role": user.role}, now=now)
    return user, issue_enrolment(session, user=user, now=now, by=by)


def issue_enrolment(session: Session, *, user: StaffUser, now: datetime, by: str = "system") -> str:
    """A one-time enrolment link's token; the account's password and second factor start over."""
    token = secrets.token_urlsafe(32)
    user.enrolment_token_hash = hash_token(token)
    user.enrolment_expires_at = now + timedelta(hours=get_settings().console_enrolment_hours)
    user.password_hash = None
    user.totp_secret = None
    user.totp_last_step = None
    user.failed_attempts = 0
    user.locked_until = None
    session.flush()
    record(session, actor=by, action="staff.enrolment_issued", details={"user_id": user.id}, now=now)
    return token


def find_enrolment(session: Session, *, token: str, now: datetime) -> StaffUser | None:
    """The active account this unspent, unexpired enrolment token belongs to, if any."""
    user = session.scalars(select(StaffUser).where(StaffUser.enrolment_token_hash == hash_token(token))).first()
    if user is None or not user.active or user.enrolment_expires_at is None or user.enrolment_expires_at <= now:
        return None
    return user


def pending_totp_secret(session: Session, *, user: StaffUser) -> str:
    """The secret shown during enrolment; kept, so reloading the page shows the same one."""
    if user.totp_secret is None:
        user.totp_secret = pyotp.random_base32()
        session.flush()
    return user.totp_secret


def provisioning_uri(user: StaffUser) -> str:
    if user.totp_secret is None:
        raise AccountError("no second factor yet")
    return pyotp.TOTP(user.totp_secret).provisioning_uri(name=user.email, issuer_name=TOTP_ISSUER)


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"Use at least {MIN_PASSWORD_LENGTH} characters.")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise WeakPassword(f"Use at most {MAX_PASSWORD_LENGTH} characters.")


def complete_enrolment(session: Session, *, user: StaffUser, password: str, code: str, now: datetime) -> None:
    """Set the password and confirm the second factor with one code; the enrolment link is then spent."""
    check_password_rules(password)
    secret = pending_totp_secret(session, user=user)
    step = _matching_step(secret, code, now=now, after=None)
    if step is None:
        raise WrongCode("That code did not match. Check the time on your phone and try the newest code.")
    user.password_hash = _hasher().hash(password)
    user.totp_last_step = step
    user.enrolment_token_hash = None
    user.enrolment_expires_at = None
    user.failed_attempts = 0
    user.locked_until = None
    session.flush()
    record(session, actor=actor(user), action="staff.enrolled", now=now)


def is_locked(user: StaffUser, *, now: datetime) -> bool:
    return user.locked_until is not None and user.locked_until > now


def check_password(session: Session, *, email: str, password: str, now: datetime) -> Attempt:
    """The first factor. An unknown, disabled or unenrolled account is refused like a wrong password."""
    user = find_by_email(session, email)
    if user is None or not user.active or not user.enrolled or user.password_hash is None:
        _verify(_dummy_hash(), password)
        return _failed_without_account(session, email, now=now)
    if is_locked(user, now=now):
        record(session, actor=actor(user), action="staff.sign_in_failed", details={"step": "locked"}, now=now)
        return Attempt(Outcome.LOCKED, user)
    if not _verify(user.password_hash, password):
        return _failed(session, user, step="password", now=now)
    if _hasher().check_needs_rehash(user.password_hash):
        user.password_hash = _hasher().hash(password)
    return Attempt(Outcome.OK, user)


def check_code(session: Session, *, user: StaffUser, code: str, now: datetime) -> Attempt:
    """The second factor: a code from the current time-step or one either side, never one used before."""
    if not user.active or user.totp_secret is None:
        return Attempt(Outcome.REFUSED)
    if is_locked(user, now=now):
        record(session, actor=actor(user), action="staff.sign_in_failed", details={"step": "locked"}, now=now)
        return Attempt(Outcome.LOCKED, user)
    step = _matching_step(user.totp_secret, code, now=now, after=user.totp_last_step)
    if step is None:
        return _failed(session, user, step="code", now=now)
    # Only a whole sign-in clears the count: a known password must not buy endless code guesses.
    user.totp_last_step = step
    user.failed_attempts = 0
    user.locked_until = None
    session.flush()
    return Attempt(Outcome.OK, user)


def _failed(session: Session, user: StaffUser, *, step: str, now: datetime) -> Attempt:
    settings = get_settings()
    user.failed_attempts += 1
    record(session, actor=actor(user), action="staff.sign_in_failed", details={"step": step}, now=now)
    if user.failed_attempts >= settings.console_lockout_attempts:
        user.failed_attempts = 0
        user.locked_until = now + timedelta(minutes=settings.console_lockout_minutes)
        record(session, actor=actor(user), action="staff.locked", now=now,
               details={"minutes": settings.console_lockout_minutes})  # fmt: skip
        session.flush()
        return Attempt(Outcome.LOCKED, user)
    session.flush()
    return Attempt(Outcome.REFUSED, user)


def _failed_without_account(session: Session, email: str, *, now: datetime) -> Attempt:
    """A refusal for an email with no usable account, locked out after as many tries as a real account is.

    Otherwise "Too many attempts" would appear only for emails that have an
    account, and five wrong passwords would tell anyone which emails do. The
    tries are counted from the audit trail by a hash of the email (the trail
    keeps no email of someone who is not staff).
    """
    settings = get_settings()
    who = hash_token(normalise_email(email))[:32]
    window = timedelta(minutes=settings.console_lockout_minutes)
    earlier = session.scalar(
        select(func.count())
        .select_from(AuditEvent)
        .where(
            AuditEvent.action == "staff.sign_in_failed",
            AuditEvent.actor == "anonymous",
            AuditEvent.at > now - window,
            AuditEvent.details["who"].as_string() == who,
        )
    )
    record(session, actor="anonymous", action="staff.sign_in_failed", details={"step": "password", "who": who},
           now=now)  # fmt: skip
    session.flush()
    locked = (earlier or 0) + 1 >= settings.console_lockout_attempts
    return Attempt(Outcome.LOCKED if locked else Outcome.REFUSED)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _matching_step(secret: str, code: str, *, now: datetime, after: int | None) -> int | None:
    """The time-step (30 s) whose code this is, within one step of now and later than `after`."""
    code = code.strip().replace(" ", "")
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    for step in (current - 1, current, current + 1):
        if after is not None and step <= after:
            continue
        if secrets.compare_digest(totp.generate_otp(step), code):
            return step
    return None


# --- administration: what an admin does to other accounts ------------------------------------------


class OwnAccount(AccountError):
    pass


class LastAdmin(AccountError):
    pass


def enrolment_link(token: str) -> str:
    """The address an enrolment token is sent as (the CLI and the console hand out the same link)."""
    return f"{get_settings().base_url}/console/enrol/{token}"


def list_users(session: Session) -> list[StaffUser]:
    return list(session.scalars(select(StaffUser).order_by(StaffUser.name, StaffUser.email)))


def last_sign_ins(session: Session) -> dict[int, datetime]:
    """When each account last completed a sign-in, from the audit log (the only place that keeps it)."""
    rows = session.execute(
        select(AuditEvent.actor, func.max(AuditEvent.at))
        .where(AuditEvent.action == "staff.signed_in", AuditEvent.actor.like("staff:%"))
        .group_by(AuditEvent.actor)
    )
    found: dict[int, datetime] = {}
    for who, at in rows:
        user_id = who.removeprefix("staff:")
        if user_id.isdigit() and at is not None:
            found[int(user_id)] = at
    return found


def end_sessions(session: Session, *, user: StaffUser, now: datetime) -> int:
    """End every session of the account that has not ended yet; how many were ended."""
    live = session.scalars(select(StaffSession).where(StaffSession.user_id == user.id, StaffSession.ended_at.is_(None)))
    ended = 0
    for staff_session in live:
        staff_session.ended_at = now
        ended += 1
    session.flush()
    return ended


def _refuse_own(user: StaffUser, by: str, doing: str) -> None:
    if by == actor(user):
        raise OwnAccount(f"You cannot {doing} your own account. Ask another admin.")


def disable_user(session: Session, *, user: StaffUser, by: str, now: datetime) -> None:
    """The account can no longer sign in and its sessions end at once. Not one's own account, and not the
    last admin who can sign in: the clinic would have no one left to manage the console."""
    if not user.active:
        return
    _refuse_own(user, by, "disable")
    if user.role == StaffRole.ADMIN:
        others = session.scalars(
            select(StaffUser).where(StaffUser.role == StaffRole.ADMIN, StaffUser.active, StaffUser.id != user.id)
        )
        if not any(other.enrolled for other in others):
            raise LastAdmin(f"{user.name} is the last admin who can sign in; add or enable another admin first.")
    user.active = False
    ended = end_sessions(session, user=user, now=now)
    record(session, actor=by, action="staff.disabled", details={"user_id": user.id, "sessions_ended": ended}, now=now)


def enable_user(session: Session, *, user: StaffUser, by: str, now: datetime) -> None:
    """The account can sign in again (with its password and code, or its enrolment link if still pending)."""
    if user.active:
        return
    user.active = True
    session.flush()
    record(session, actor=by, action="staff.enabled", details={"user_id": user.id}, now=now)


def reset_user(session: Session, *, user: StaffUser, by: str, now: datetime) -> str:
    """Start the account over (a lost phone, a forgotten password): password and second factor cleared,
    sessions ended, lockout lifted; the raw token of a new enrolment link."""
    _refuse_own(user, by, "reset")
    ended = end_sessions(session, user=user, now=now)
    token = issue_enrolment(session, user=user, now=now, by=by)
    record(session, actor=by, action="staff.reset", details={"user_id": user.id, "sessions_ended": ended}, now=now)
    return token
