"""Versioned schema migrations (alembic). `upgrade(engine)` brings any known revision to head.

Add a migration with a new file in versions/ (revision ids are 0001, 0002, ...), then bump
db.HEAD_REVISION and db.KNOWN_REVISIONS. tests/test_migrations.py checks that the migrated
schema matches core/models.py and that a file made by the first revision opens.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

HERE = Path(__file__).parent


def alembic_config():  # type: ignore[no-untyped-def]
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    from alembic import command

    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
