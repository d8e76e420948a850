"""Alembic, configured in code: `moderation db upgrade` needs no alembic.ini.

Alembic is imported by the functions that run it, never by this module: the server's workers
import this module for `head_revisions` (the readiness check) and would otherwise carry Alembic
and Mako, about 10 MB per process (docs/performance.md, Memory).
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alembic.config import Config


def migrations_folder() -> Path:
    """Installed: ``moderation/migrations`` (see pyproject); a checkout: top-level ``migrations/``."""
    package = Path(__file__).resolve().parent.parent  # moderation/
    installed = package / "migrations"
    return installed if installed.is_dir() else package.parent / "migrations"


MIGRATIONS = migrations_folder()


def head_revisions(folder: Path | None = None) -> frozenset[str]:
    """The newest revision(s) among the migration scripts in `folder` (default `MIGRATIONS`):
    those no other script names as its ``down_revision``. Read from each script's source, as
    Alembic's ``ScriptDirectory.get_heads()`` would answer, without importing Alembic or the
    scripts."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in sorted((folder or MIGRATIONS / "versions").glob("*.py")):
        if path.name.startswith(("_", ".")):
            continue
        found = _assigned(path, ("revision", "down_revision"))
        revision = found.get("revision")
        if not isinstance(revision, str):
            continue
        revisions.add(revision)
        down = found.get("down_revision")
        if isinstance(down, str):
            parents.add(down)
        elif isinstance(down, tuple | list):
            parents.update(d for d in down if isinstance(d, str))
    return frozenset(revisions - parents)


def _assigned(path: Path, names: tuple[str, ...]) -> dict[str, object]:
    """The literal values a script assigns to `names` at module level."""
    out: dict[str, object] = {}
    for node in ast.parse(path.read_text(encoding="utf-8"), str(path)).body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            targets, value = [node.target], node.value
        elif isinstance(node, ast.Assign):
            targets, value = [t for t in node.targets if isinstance(t, ast.Name)], node.value
        else:
            continue
        for target in targets:
            if target.id in names and value is not None:
                try:
                    out[target.id] = ast.literal_eval(value)
                except ValueError:
                    continue
    return out


def alembic_config(url: str) -> Config:
    """An Alembic config for the database at `url`, using the migrations folder."""
    from alembic.config import Config

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
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    """Revert migrations down to `revision`."""
    from alembic import command

    command.downgrade(alembic_config(url), revision)


def current(url: str) -> None:
    """Print the database's current revision."""
    from alembic import command

    command.current(alembic_config(url))
