"""The migrations build exactly the schema the models describe, and go down cleanly."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from relay.models import Base
from relay.ops.migrate import alembic_config


def test_models_and_migrations_agree(database):
    with database.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"include_object": lambda o, n, t, r, c: not (t == "table" and r and c is None)}
        )
        assert compare_metadata(context, Base.metadata) == []


def test_downgrade_to_base_and_back(tmp_path):
    from alembic import command

    from relay.core.db import get_engine
    from relay.ops.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'm.db'}"
    upgrade(url)
    command.downgrade(alembic_config(url), "base")
    upgrade(url)
    from sqlalchemy import inspect

    assert set(Base.metadata.tables) <= set(inspect(get_engine(url)).get_table_names())
