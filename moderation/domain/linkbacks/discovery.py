"""Discovery, advertising ours: a page's TrackBack ping URL (`trackback_url`) and the markup and
headers that let senders find our three endpoints (`discovery_markup`: TB-15, PB-4, WM-2).
Finding other sites' endpoints, for sending, is `moderation.domain.pages`.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from moderation.domain.pages import CONTROL_CHARS


def trackback_url(public_url: str, site: str, uri: str, key: str = "") -> str:
    """The TrackBack ping URL of page `uri` of `site` (what the thread JSON advertises), with the
    page's `key` when the site signs its ping URLs (TB-D8)."""
    url = f"{public_url.rstrip('/')}/trackback/{site}{quote(uri, safe='/')}"
    return f"{url}?key={key}" if key else url


@dataclass(frozen=True)
class Discovery:
    """What a host page carries so that senders find our endpoints (TB-15): paste `html` into the
    page's ``<head>``, send `link_header` and `x_pingback` as HTTP headers if the host can, and put
    `trackback_rdf` in the body."""

    page_url: str
    trackback_url: str
    pingback_url: str
    webmention_url: str
    html: str
    link_header: str
    x_pingback: str
    trackback_rdf: str

    def as_dict(self) -> dict[str, str]:
        """JSON-ready."""
        return {
            "page_url": self.page_url,
            "trackback_url": self.trackback_url,
            "pingback_url": self.pingback_url,
            "webmention_url": self.webmention_url,
            "html": self.html,
            "link_header": self.link_header,
            "x_pingback": self.x_pingback,
            "trackback_rdf": self.trackback_rdf,
        }


def _attr(value: str) -> str:
    """An attribute value with only the four entities Pingback clients expand (PB-3)."""
    return (
        value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


def discovery_markup(
    public_url: str, site: str, uri: str, page_url: str, title: str, key: str = ""
) -> Discovery:
    """Our three endpoints for one page, in the exact forms senders look for (PB-4, WM-2, §1.5);
    `key` as for `trackback_url`."""
    base = public_url.rstrip("/")
    ping = trackback_url(public_url, site, uri, key)
    pingback, webmention = f"{base}/pingback", f"{base}/webmention"
    html = (
        f'<link rel="pingback" href="{_attr(pingback)}">\n'
        f'<link rel="webmention" href="{_attr(webmention)}">'
    )
    # The block sits in an HTML comment, which "--" would end early: keep it out of the title.
    clean_title = _attr(CONTROL_CHARS.sub("", title)).replace("--", "&#45;&#45;")
    rdf = (
        "<!--\n"
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"\n'
        '         xmlns:dc="http://purl.org/dc/elements/1.1/"\n'
        '         xmlns:trackback="http://madskills.com/public/xml/rss/module/trackback/">\n'
        f'<rdf:Description rdf:about="{_attr(page_url)}"\n'
        f'    dc:identifier="{_attr(page_url)}"\n'
        f'    dc:title="{clean_title}"\n'
        f'    trackback:ping="{_attr(ping)}" />\n'
        "</rdf:RDF>\n"
        "-->"
    )
    return Discovery(
        page_url=page_url,
        trackback_url=ping,
        pingback_url=pingback,
        webmention_url=webmention,
        html=html,
        link_header=f'<{webmention}>; rel="webmention"',
        x_pingback=pingback,
        trackback_rdf=rdf,
    )
