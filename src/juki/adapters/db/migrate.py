"""Schema migrations (Alembic), run programmatically: no alembic.ini is needed.

``upgrade(url)`` brings a database to the newest revision; ``current_revision(url)`` says where it is.
For the ``alembic`` command line (writing new revisions), use :func:`alembic_config`::

    uv run python -c "from juki.adapters.db.migrate import alembic_config as c; \\
        from alembic import command; command.revision(c('sqlite:///var/juki.db'), 'message')"
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from .engine import make_engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    # Passed as an attribute, not a config option: configparser would mangle '%' in passwords.
    cfg.attributes["juki_url"] = url
    return cfg


def upgrade(url: str, revision: str = "heads") -> None:
    """Migrate the database at ``url`` to ``revision`` (default: the newest of every branch).

    Each package that owns tables (register, audit, access) has its own branch of revisions off
    ``0001``, so that they can evolve independently; ``heads`` applies them all."""
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            cfg = alembic_config(url)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    finally:
        engine.dispose()


def downgrade(url: str, revision: str) -> None:
    """Migrate down to ``revision`` ("base" drops everything).  For development only."""
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            cfg = alembic_config(url)
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, revision)
    finally:
        engine.dispose()


def current_revision(url: str) -> str | None:
    """The revision(s) the database is at, comma-separated when several branches (None when empty)."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            heads = MigrationContext.configure(conn).get_current_heads()
            return ",".join(sorted(heads)) or None
    finally:
        engine.dispose()


def head_revision() -> str | None:
    """The newest revision(s) shipped with this code, comma-separated when several branches."""
    return ",".join(sorted(ScriptDirectory.from_config(alembic_config("")).get_heads())) or None
