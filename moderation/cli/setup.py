"""``moderation init-config``: a starting config file."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import click


@click.command("init-config")
@click.argument("path", default="config.toml")
@click.option("--demo", is_flag=True, help="a local demo site on http://127.0.0.1:8000")
@click.option("--force", is_flag=True, help="overwrite an existing file")
def init_config(path: str, demo: bool, force: bool) -> None:
    """Write a starting config file with a fresh secret key."""
    target = Path(path)
    if target.exists() and not force:
        click.echo(f"{target} exists; leaving it alone")
        return
    target.write_text(_config_text(demo))
    target.chmod(0o600)
    click.echo(f"wrote {target}")


def _config_text(demo: bool) -> str:
    here = "http://127.0.0.1:8000"
    site_url = here if demo else "https://blog.example.org"
    lines: list[Any] = [
        "[server]",
        f'secret_key = "{secrets.token_urlsafe(32)}"',
        f'public_url = "{here if demo else "https://comments.example.org"}"',
        'demo_site = "demo"' if demo else "",
        "",
        "[database]",
        'url = "sqlite:///var/moderation.db"',
        "",
        "[sites.demo]" if demo else "[sites.blog]",
        f'url = "{site_url}"',
        f'origins = ["{site_url}", "http://localhost:8000"]',
        'moderation = "first-time"',
        "",
    ]
    return "\n".join(str(line) for line in lines)
