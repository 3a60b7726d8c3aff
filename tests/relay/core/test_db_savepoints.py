"""A savepoint that is a transaction's first statement still belongs to the transaction (pysqlite's quirk)."""

from sqlalchemy import select

from relay.core.db import new_session
from relay.models import Faq


def test_rolling_back_after_a_released_savepoint_undoes_its_writes(database):
    session = new_session()
    try:
        with session.begin_nested():  # the first thing the transaction does
            session.add(Faq(key="savepoint-probe", question="q", examples=[], answer="a"))
        session.rollback()
        assert session.scalars(select(Faq).filter_by(key="savepoint-probe")).first() is None
    finally:
        session.rollback()
        session.close()
