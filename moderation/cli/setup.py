"""``moderation init-config``: a starting config file."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import click


@click.command("init-config")
@click.argument("path", default="config.toml")
@click.option("--demo", is_flag=True, help="a local demo site on http://127.0.0.1:PORT")
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=8000,
    show_default=True,
    help="the port the service listens on (and, with --demo, the demo site's address)",
)
@click.option("--force", is_flag=True, help="overwrite an existing file")
def init_config(path: str, demo: bool, port: int, force: bool) -> None:
    """Write a starting config file with a fresh secret key."""
    target = Path(path)
    if target.exists() and not force:
        click.echo(f"{target} exists; leaving it alone")
        return
    target.write_text(_config_text(demo, port))
    target.chmod(0o600)
    click.echo(f"wrote {target}")


def _config_text(demo: bool, port: int = 8000) -> str:
    here = f"http://127.0.0.1:{port}"
    site_url = here if demo else "https://blog.example.org"
    # The demo page is opened as 127.0.0.1 or localhost; a real site's origin is its own address.
    origins = [site_url, f"http://localhost:{port}"] if demo else [site_url]
    lines: list[Any] = [
        "[server]",
        f'secret_key = "{secrets.token_urlsafe(32)}"',
        f'public_url = "{here if demo else "https://comments.example.org"}"',
        f"port = {port}",
        'demo_site = "demo"' if demo else "",
        "",
        "[database]",
        'url = "sqlite:///var/moderation.db"',
        "",
        "[sites.demo]" if demo else "[sites.blog]",
        f'url = "{site_url}"',
        "origins = [" + ", ".join(f'"{o}"' for o in origins) + "]",
        'moderation = "first-time"',
        "",
    ]
    return "\n".join(str(line) for line in lines)
