"""``moderation linkbacks``: the discovery markup a page carries, and sending a post's linkbacks."""

from __future__ import annotations

import click

from moderation.cli import State, pass_state


@click.group()
def linkbacks() -> None:
    """Linkbacks: what a page must carry to receive them, and sending them for a post."""


@linkbacks.command("discovery")
@click.argument("site")
@click.argument("uri")
@click.option("--title", default="", help="the page's title, for the TrackBack RDF block")
@click.option("--json", "as_json", is_flag=True, help="one JSON object, as GET /api/v1/discovery")
@pass_state
def linkbacks_discovery(state: State, site: str, uri: str, title: str, as_json: bool) -> None:
    """Print the discovery markup and headers for page URI (a path) of SITE."""
    import json

    from moderation.errors import InvalidInput
    from moderation.services.linkbacks import discovery
    from moderation.services.tokens import Tokens

    if not uri.startswith("/"):
        raise click.ClickException("URI is the page's path, starting with /")
    try:
        found = discovery(state.settings, Tokens.from_settings(state.settings), site, uri, title)
    except InvalidInput:
        raise click.ClickException(f"no site {site!r} in {state.path}") from None
    if as_json:
        click.echo(json.dumps(found.as_dict(), indent=2))
        return
    click.echo(f"<!-- in the <head> of {found.page_url} -->\n{found.html}\n")
    click.echo(f"<!-- in its <body> -->\n{found.trackback_rdf}\n")
    click.echo(f"# HTTP headers, if the host can send them\nLink: {found.link_header}")
    click.echo(f"X-Pingback: {found.x_pingback}")


@linkbacks.command("send")
@click.argument("url")
@pass_state
def linkbacks_send(state: State, url: str) -> None:
    """Tell the pages that the post at URL links to: a webmention, else a pingback, else a
    trackback, whichever each page advertises. Prints one line per page."""
    from moderation.errors import ModerationError
    from moderation.net.fetcher import Fetcher
    from moderation.net.guarded import FetchError
    from moderation.services.sending import Poster, send_linkbacks

    fetch = state.settings.fetch
    try:
        results = send_linkbacks(Fetcher(fetch), Poster(fetch), url)
    except (FetchError, ModerationError) as exc:
        raise click.ClickException(f"cannot read the post {url}: {exc}") from None
    if not results:
        click.echo("the post links to no other page")
    for result in results:
        click.echo(result.line())
