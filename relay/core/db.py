"""Engine and session handling; nothing is created at import time."""

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from sqlalchemy import CursorResult, Engine, Result, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from relay.core.settings import get_settings


def _is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


@lru_cache(maxsize=8)
def get_engine(url: str | None = None) -> Engine:
    url = url or get_settings().database_url
    if _is_sqlite(url):
        # Several processes (API, action server, worker) share the file: WAL lets
        # readers proceed during a write, and busy_timeout queues writers instead
        # of failing them at once.
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine, "savepoint")
        def _savepoint_inside_a_transaction(connection, _name):
            # pysqlite opens a transaction only before a data-changing statement, so a
            # SAVEPOINT that comes first starts one of its own, and its RELEASE commits:
            # the caller's rollback would then undo nothing. Begin the outer one first.
            dbapi_connection = connection.connection.dbapi_connection
            if dbapi_connection is not None and not dbapi_connection.in_transaction:
                dbapi_connection.execute("BEGIN")

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


@lru_cache(maxsize=8)
def _session_factory(url: str) -> sessionmaker[Session]:
    return sessionmaker(bind=get_engine(url), expire_on_commit=False)


def new_session(url: str | None = None) -> Session:
    return _session_factory(url or get_settings().database_url)()


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """A unit of work: commit on success, roll back on any error."""
    session = new_session(url)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def dispose_engines() -> None:
    """Forget cached engines (tests switch databases; forked workers reconnect)."""
    get_engine.cache_clear()
    _session_factory.cache_clear()


def changed_rows(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE changed (the session hands DML results back as cursor results)."""
    if not isinstance(result, CursorResult):
        raise TypeError(f"not the result of an UPDATE or DELETE: {type(result).__name__}")
    return result.rowcount
