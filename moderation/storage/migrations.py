"""Alembic, configured in code: `moderation db upgrade` needs no alembic.ini."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config


def migrations_folder() -> Path:
    """Installed: ``moderation/migrations`` (see pyproject); a checkout: top-level ``migrations/``."""
    package = Path(__file__).resolve().parent.parent  # moderation/
    installed = package / "migrations"
    return installed if installed.is_dir() else package.parent / "migrations"


MIGRATIONS = migrations_folder()


def alembic_config(url: str) -> Config:
    """An Alembic config for the database at `url`, using the migrations folder."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("file_template", "%%(year)d%%(month).2d%%(day).2d_%%(rev)s_%%(slug)s")
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def _bare(default: str | None) -> str:
    text = (default or "").strip()
    while len(text) >= 2 and text[0] + text[-1] in ("()", "''", '""'):
        text = text[1:-1].strip()
    return text.lower()


def compare_server_default(
    _context: object,
    _inspected_column: object,
    _metadata_column: object,
    inspected_default: str | None,
    _metadata_default: object,
    rendered_metadata_default: str | None,
) -> bool | None:
    """Alembic hook: treat defaults equal when they differ only in quoting or parentheses.

    SQLite reflects ``DEFAULT ''`` in a way Alembic's own comparison takes for "no default", which
    would make every empty-string default look changed. Anything else is left to Alembic (None).
    """
    if _bare(inspected_default) == _bare(rendered_metadata_default):
        return False
    return None


def upgrade(url: str, revision: str = "head") -> None:
    """Apply migrations up to `revision`."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    """Revert migrations down to `revision`."""
    command.downgrade(alembic_config(url), revision)


def current(url: str) -> None:
    """Print the database's current revision."""
    command.current(alembic_config(url))
