"""The database schema: migrating it to the newest alembic revision (the start script, the
tests), and which revision that is (the readiness check)."""

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

ALEMBIC_INI = Path(__file__).resolve().parent.parent / "alembic.ini"


def _config(database_url: str | None = None) -> Config:
    config = Config(ALEMBIC_INI)
    config.attributes["database_url"] = database_url
    return config


def migrate(database_url: str, revision: str = "head") -> None:
    command.upgrade(_config(database_url), revision)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_config()).get_current_head()
