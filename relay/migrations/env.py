"""Alembic environment: the database URL comes from Relay's settings (or the caller)."""

from alembic import context

from relay.core.db import get_engine
from relay.models import Base

config = context.config


def _ours(obj, name, type_, reflected, compare_to) -> bool:
    """Ignore tables we do not model, such as Rasa's tracker `events` table."""
    return not (type_ == "table" and reflected and compare_to is None)


def run_migrations() -> None:
    url = config.get_main_option("sqlalchemy.url")
    engine = get_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            # SQLite cannot ALTER most things in place; batch mode rebuilds tables.
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
            include_object=_ours,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run `relay migrate`")
run_migrations()
