"""Staff accounts: argon2 passwords (rehashed when the parameters change), TOTP codes used once, lockout, enrolment."""

from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from relay.models import AuditEvent, StaffRole, StaffUser
from relay.staff import accounts
from relay.staff.accounts import Outcome

NOW = datetime(2026, 3, 10, 9, 30, 10, tzinfo=UTC)
PASSWORD = "a long enough password"


def _enrolled(db_session, email: str = "ann@clinic.example", *, now: datetime = NOW) -> tuple[StaffUser, str]:
    then = now - timedelta(minutes=5)
    user, _token = accounts.create_user(db_session, email=email, role=StaffRole.STAFF, now=then)
    secret = accounts.pending_totp_secret(db_session, user=user)
    accounts.complete_enrolment(db_session, user=user, password=PASSWORD, code=pyotp.TOTP(secret).at(then), now=then)
    return user, secret


def _wrong(code: str) -> str:
    return "000000" if code != "000000" else "111111"


def test_the_password_is_kept_as_an_argon2id_hash(db_session):
    user, _secret = _enrolled(db_session)
    assert user.password_hash and user.password_hash.startswith("$argon2id$") and PASSWORD not in user.password_hash
    assert (
        accounts.check_password(db_session, email="ANN@clinic.example ", password=PASSWORD, now=NOW).outcome
        is Outcome.OK
    )
    assert (
        accounts.check_password(db_session, email=user.email, password=PASSWORD + "x", now=NOW).outcome
        is Outcome.REFUSED
    )


def test_an_unknown_email_is_refused_like_a_wrong_password(db_session):
    _enrolled(db_session)
    attempt = accounts.check_password(db_session, email="who@clinic.example", password=PASSWORD, now=NOW)
    assert attempt == accounts.Attempt(Outcome.REFUSED)


def test_a_hash_made_with_old_parameters_is_replaced_on_the_next_sign_in(db_session):
    user, _secret = _enrolled(db_session)
    user.password_hash = PasswordHasher(time_cost=2, memory_cost=2048, parallelism=2).hash(PASSWORD)
    old = user.password_hash
    current = accounts._hasher()  # the configured cost (the suite runs at the cheap test cost)
    assert current.check_needs_rehash(old)
    assert accounts.check_password(db_session, email=user.email, password=PASSWORD, now=NOW).outcome is Outcome.OK
    assert user.password_hash != old and not current.check_needs_rehash(user.password_hash)


@pytest.mark.parametrize("password", ["", "eleven char", "x" * 257])
def test_passwords_must_be_12_to_256_characters(db_session, password):
    user, _token = accounts.create_user(db_session, email="bo@clinic.example", role=StaffRole.ADMIN, now=NOW)
    secret = accounts.pending_totp_secret(db_session, user=user)
    with pytest.raises(accounts.WeakPassword):
        accounts.complete_enrolment(db_session, user=user, password=password, code=pyotp.TOTP(secret).at(NOW), now=NOW)
    assert user.password_hash is None and user.enrolment_token_hash is not None


def test_a_code_is_good_for_one_step_either_side_and_only_once(db_session):
    user, secret = _enrolled(db_session)
    totp = pyotp.TOTP(secret)
    assert (
        accounts.check_code(db_session, user=user, code=totp.at(NOW - timedelta(seconds=60)), now=NOW).outcome
        is Outcome.REFUSED
    )
    assert (
        accounts.check_code(db_session, user=user, code=totp.at(NOW - timedelta(seconds=30)), now=NOW).outcome
        is Outcome.OK
    )
    # the step before it is now used up too: codes only move forward
    assert (
        accounts.check_code(db_session, user=user, code=totp.at(NOW - timedelta(seconds=30)), now=NOW).outcome
        is Outcome.REFUSED
    )
    assert accounts.check_code(db_session, user=user, code=totp.at(NOW), now=NOW).outcome is Outcome.OK
    assert (
        accounts.check_code(db_session, user=user, code=totp.at(NOW), now=NOW + timedelta(seconds=5)).outcome
        is Outcome.REFUSED
    )
    assert (
        accounts.check_code(db_session, user=user, code=totp.at(NOW + timedelta(seconds=30)), now=NOW).outcome
        is Outcome.OK
    )


def test_five_failures_of_either_kind_lock_the_account_for_fifteen_minutes(db_session):
    user, secret = _enrolled(db_session)
    totp = pyotp.TOTP(secret)
    for _ in range(2):
        accounts.check_password(db_session, email=user.email, password="wrong wrong wrong", now=NOW)
    assert accounts.check_password(db_session, email=user.email, password=PASSWORD, now=NOW).outcome is Outcome.OK
    for _ in range(2):
        accounts.check_code(db_session, user=user, code=_wrong(totp.at(NOW)), now=NOW)
    fifth = accounts.check_code(db_session, user=user, code=_wrong(totp.at(NOW)), now=NOW)
    assert fifth.outcome is Outcome.LOCKED and user.locked_until == NOW + timedelta(minutes=15)
    later = NOW + timedelta(minutes=14, seconds=59)
    assert accounts.check_password(db_session, email=user.email, password=PASSWORD, now=later).outcome is Outcome.LOCKED
    assert accounts.check_code(db_session, user=user, code=totp.at(later), now=later).outcome is Outcome.LOCKED
    after = NOW + timedelta(minutes=15)
    assert accounts.check_password(db_session, email=user.email, password=PASSWORD, now=after).outcome is Outcome.OK
    assert accounts.check_code(db_session, user=user, code=totp.at(after), now=after).outcome is Outcome.OK
    assert user.failed_attempts == 0


def test_an_enrolment_token_is_kept_as_a_hash_expires_and_is_spent(db_session):
    user, token = accounts.create_user(db_session, email="cy@clinic.example", role=StaffRole.STAFF, now=NOW)
    assert user.enrolment_token_hash == accounts.hash_token(token) != token
    assert accounts.find_enrolment(db_session, token=token, now=NOW + timedelta(hours=23)) is user
    assert accounts.find_enrolment(db_session, token=token, now=NOW + timedelta(hours=24)) is None
    assert accounts.find_enrolment(db_session, token=token + "x", now=NOW) is None
    secret = accounts.pending_totp_secret(db_session, user=user)
    assert accounts.pending_totp_secret(db_session, user=user) == secret
    with pytest.raises(accounts.WrongCode):
        accounts.complete_enrolment(
            db_session, user=user, password=PASSWORD, code=_wrong(pyotp.TOTP(secret).at(NOW)), now=NOW
        )
    accounts.complete_enrolment(db_session, user=user, password=PASSWORD, code=pyotp.TOTP(secret).at(NOW), now=NOW)
    assert user.enrolled and accounts.find_enrolment(db_session, token=token, now=NOW) is None
    assert "issuer=Relay" in accounts.provisioning_uri(user)


def test_an_existing_email_is_refused(db_session):
    accounts.create_user(db_session, email="dee@clinic.example", role=StaffRole.STAFF, now=NOW)
    with pytest.raises(accounts.EmailTaken):
        accounts.create_user(db_session, email=" Dee@Clinic.example", role=StaffRole.ADMIN, now=NOW)


def test_audit_events_carry_no_password_code_or_secret(db_session):
    user, secret = _enrolled(db_session)
    totp = pyotp.TOTP(secret)
    accounts.check_password(db_session, email=user.email, password="the wrong password", now=NOW)
    for _ in range(4):
        accounts.check_code(db_session, user=user, code=_wrong(totp.at(NOW)), now=NOW)
    events = db_session.scalars(select(AuditEvent).where(AuditEvent.action.like("staff.%"))).all()
    actions = {event.action for event in events}
    assert {"staff.created", "staff.enrolled", "staff.sign_in_failed", "staff.locked"} <= actions
    text = repr([(event.actor, event.details) for event in events])
    for secret_text in (PASSWORD, "the wrong password", secret, _wrong(totp.at(NOW)), user.email):
        assert secret_text not in text
