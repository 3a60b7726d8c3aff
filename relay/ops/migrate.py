"""Run Alembic from code, so `relay migrate` needs no alembic.ini in the cwd."""

import os
from pathlib import Path

from alembic import command
from alembic.config import Config

from relay.core.settings import get_settings

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(database_url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser treats % as interpolation; URLs may contain escaped characters.
    url = (database_url or get_settings().database_url).replace("%", "%%")
    config.set_main_option("sqlalchemy.url", url)
    return config


def upgrade(database_url: str | None = None) -> None:
    command.upgrade(alembic_config(database_url), "head")


def make_revision(message: str, *, database_url: str | None = None, directory: Path | None = None) -> Path:
    """Write a new migration for what the models have and the database (at head) lacks; its path.

    `relay revision "add console sessions"`, after changing a model: Alembic
    compares the models with the migrated database and writes the operations
    into relay/migrations/versions/ (or `directory`), to be read and committed.
    """
    config = alembic_config(database_url)
    if directory is not None:  # the existing revisions stay where they are: the new one follows them
        config.set_main_option("path_separator", "os")
        config.set_main_option("version_locations", os.pathsep.join([str(MIGRATIONS_DIR / "versions"), str(directory)]))
    script = command.revision(
        config, message=message, autogenerate=True, version_path=str(directory) if directory else None
    )
    if script is None or isinstance(script, list):
        raise RuntimeError("Alembic wrote no single revision")  # one head, one revision: never seen otherwise
    return Path(script.path)
