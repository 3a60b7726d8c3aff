"""Console sessions: the token is kept as its hash, 15 minutes idle ends them, use keeps them, sign-out ends them."""

from datetime import UTC, datetime, timedelta

from relay.models import StaffRole
from relay.staff import accounts, sessions

NOW = datetime(2026, 3, 10, 9, 30, tzinfo=UTC)


def _user(db_session):
    user, _token = accounts.create_user(db_session, email="ann@clinic.example", role=StaffRole.STAFF, now=NOW)
    return user


def test_a_session_is_found_by_its_raw_token_which_is_not_stored(db_session):
    user = _user(db_session)
    staff_session, token = sessions.start(db_session, user=user, now=NOW)
    assert staff_session.token_hash == accounts.hash_token(token) != token
    assert not staff_session.second_factor_done and staff_session.csrf_token
    assert sessions.lookup(db_session, token=token, now=NOW) is staff_session
    assert sessions.lookup(db_session, token=token[:-1], now=NOW) is None
    assert sessions.lookup(db_session, token=None, now=NOW) is None


def test_fifteen_idle_minutes_end_a_session_and_use_keeps_it(db_session):
    user = _user(db_session)
    staff_session, token = sessions.start(db_session, user=user, now=NOW, second_factor_done=True)
    for minutes in (10, 25, 40):
        assert sessions.lookup(db_session, token=token, now=NOW + timedelta(minutes=minutes)) is staff_session
        sessions.touch(db_session, staff_session=staff_session, now=NOW + timedelta(minutes=minutes))
    idle = NOW + timedelta(minutes=55, seconds=1)
    assert sessions.lookup(db_session, token=token, now=idle) is None
    assert staff_session.ended_at == NOW + timedelta(minutes=55)
    assert sessions.lookup(db_session, token=token, now=NOW + timedelta(minutes=41)) is None  # ended stays ended


def test_completing_the_second_factor_replaces_the_half_session(db_session):
    user = _user(db_session)
    half, half_token = sessions.start(db_session, user=user, now=NOW)
    full, full_token = sessions.complete(db_session, half=half, user=user, now=NOW)
    assert full_token != half_token and full.csrf_token != half.csrf_token and full.second_factor_done
    assert sessions.lookup(db_session, token=half_token, now=NOW) is None
    assert sessions.lookup(db_session, token=full_token, now=NOW) is full


def test_an_ended_session_and_a_disabled_user_open_nothing(db_session):
    user = _user(db_session)
    first, first_token = sessions.start(db_session, user=user, now=NOW, second_factor_done=True)
    _second, second_token = sessions.start(db_session, user=user, now=NOW, second_factor_done=True)
    sessions.end(db_session, staff_session=first, now=NOW)
    assert sessions.lookup(db_session, token=first_token, now=NOW) is None
    user.active = False
    assert sessions.lookup(db_session, token=second_token, now=NOW) is None
