"""States and kinds are StrEnums stored as text: read back as members, refused when unknown."""

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import StatementError

from relay.models import Referral, ReferralStatus


def test_a_status_reads_back_as_its_member_and_is_stored_as_plain_text(db_session):
    referral = db_session.scalars(select(Referral).filter_by(external_id="RF-2002")).one()
    assert referral.status is ReferralStatus.READY_TO_SCHEDULE
    stored = db_session.execute(text("SELECT status FROM referrals WHERE external_id = 'RF-2002'")).scalar_one()
    assert stored == "ready_to_schedule" and type(stored) is str


def test_an_unknown_status_never_reaches_the_database(db_session):
    referral = db_session.scalars(select(Referral).filter_by(external_id="RF-2002")).one()
    referral.status = "on_hold"
    with pytest.raises(StatementError, match="'on_hold' is not a ReferralStatus"):
        db_session.flush()
    db_session.rollback()
    assert db_session.scalars(select(Referral.status).filter_by(external_id="RF-2002")).one() == "ready_to_schedule"
