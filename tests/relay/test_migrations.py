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


def test_a_new_revision_holds_what_the_models_add(tmp_path, monkeypatch):
    """`relay revision` after a model change: the migration it writes adds what the database lacks."""
    import sqlalchemy as sa

    from relay.ops.migrate import make_revision, upgrade

    url = f"sqlite:///{tmp_path / 'm.db'}"
    upgrade(url)
    versions = tmp_path / "versions"
    versions.mkdir()
    column = sa.Column("nickname", sa.String(40), nullable=True)
    Base.metadata.tables["patients"].append_column(column)
    try:
        path = make_revision("patients nickname", database_url=url, directory=versions)
    finally:
        Base.metadata.tables["patients"]._columns.remove(column)
    text = path.read_text()
    assert path.parent == versions and "patients nickname" in text
    assert "op.add_column('nickname'" in text or "batch_op.add_column(sa.Column('nickname'" in text
    assert "drop_table" not in text  # nothing else differs: the models and the migrations agree
