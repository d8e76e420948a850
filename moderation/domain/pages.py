"""Reading HTML pages for linkbacks, the pure part: the links a page holds, the text around them,
its h-entry, and the endpoints it advertises. No I/O here (PROTOCOLS.md §1–3); the protocols
themselves are `moderation.domain.linkbacks`.

* URLs: `normalize_url` and `same_resource`, to compare two spellings of one page.
* Pages: `analyse_page` reads an HTML page once (stdlib ``html.parser``) for its title, its visible
  text and every link; `find_link` is the exact-target check (WM-12, PB-10); `excerpt_around` is the
  text around the link.
* Microformats: `h_entry`, the h-entry of a page that mf2py parsed.
* Discovery: `find_webmention_endpoint` (WM-1), `find_pingback_endpoint` (PB-3),
  `find_trackback_ping` (TB §1.5) for sending (`linkbacks.discovery_markup` advertises ours).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from html import unescape
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit
from xml.sax.saxutils import escape

CONTEXT_CHARS = 100  # PB-10: the text kept either side of the link
ELLIPSIS = "…"
CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SPACES = re.compile(r"\s+")


# --- URLs ----------------------------------------------------------------------------------------


def normalize_url(url: str) -> str:
    """`url` without its fragment, with a lower-case scheme and host and no default port, so two
    spellings of one resource compare equal. Unparseable input comes back unchanged."""
    try:
        parts = urlsplit(url.strip())
        host, port = (parts.hostname or "").lower(), parts.port
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    if ":" in host:
        host = f"[{host}]"
    if port is not None and (scheme, port) not in (("http", 80), ("https", 443)):
        host = f"{host}:{port}"
    return urlunsplit((scheme, host, parts.path or "/", parts.query, ""))


def same_resource(a: str, b: str) -> bool:
    """Whether two URLs name the same page (fragments ignored)."""
    return normalize_url(a) == normalize_url(b)


# --- Reading pages ---------------------------------------------------------------------------------

# Elements whose URL attribute counts as a link to the target (WM-12), and the attribute.
LINK_ATTRIBUTES = {
    "a": "href",
    "area": "href",
    "img": "src",
    "video": "src",
    "audio": "src",
    "source": "src",
    "iframe": "src",
}
_INVISIBLE = frozenset({"script", "style", "template", "noscript", "title", "svg"})
_VOID = frozenset(
    {
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "source",
        "track",
        "wbr",
    }
)
_BLOCK = frozenset(
    {
        "p",
        "div",
        "br",
        "li",
        "ul",
        "ol",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "blockquote",
        "pre",
        "article",
        "section",
        "header",
        "footer",
        "tr",
        "td",
        "th",
        "table",
        "figure",
        "hr",
        "main",
    }
)


@dataclass(frozen=True)
class Link:
    """One URL a page points at: `url` resolved against the page, and where its text sits."""

    tag: str
    url: str
    start: int  # offsets of the link's text in `Page.text`
    end: int


@dataclass(frozen=True)
class RelLink:
    """A ``<link>`` or ``<a>`` with a ``rel``, in document order (for endpoint discovery)."""

    tag: str
    rels: frozenset[str]
    href: str


@dataclass
class Page:
    """What `analyse_page` read: the title, the visible text, the links and the rel links."""

    url: str
    title: str = ""
    text: str = ""
    links: list[Link] = field(default_factory=list)
    rel_links: list[RelLink] = field(default_factory=list)


class _PageReader(HTMLParser):
    """One pass over a page. Comments are never links (a commented-out link does not count)."""

    def __init__(self, url: str) -> None:
        super().__init__(convert_charrefs=True)
        self.base = url
        self.based = False
        self.url = url
        self.chunks: list[str] = []
        self.size = 0
        self.title: list[str] | None = None
        self.title_done = False
        self.hidden = 0
        # Per tag, the links still open: closing one is O(1), whatever a hostile page nests.
        self.open_links: dict[str, list[tuple[str, int]]] = {}
        self.links: list[Link] = []
        self.rel_links: list[RelLink] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "base" and not self.based and values.get("href"):
            self.base, self.based = _join(self.url, values["href"]), True
        if tag == "title" and not self.title_done:
            self.title = []
        if tag in ("link", "a") and "rel" in values and "href" in values:
            rels = frozenset(values["rel"].lower().split())
            self.rel_links.append(RelLink(tag, rels, values["href"]))
        if tag in _BLOCK:
            self._add(" ")
        attr = LINK_ATTRIBUTES.get(tag)
        if attr and values.get(attr, "").strip():
            url = _join(self.base, values[attr])
            if tag in _VOID:
                self.links.append(Link(tag, url, self.size, self.size))
            else:
                self.open_links.setdefault(tag, []).append((url, self.size))
        if tag in _INVISIBLE and tag not in _VOID:
            self.hidden += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "title" and self.title is not None and not self.title_done:
            self.title_done = True
        if tag in _INVISIBLE and self.hidden:
            self.hidden -= 1
        if self.open_links.get(tag):
            url, start = self.open_links[tag].pop()
            self.links.append(Link(tag, url, start, self.size))
        if tag in _BLOCK:
            self._add(" ")

    def handle_data(self, data: str) -> None:
        if self.title is not None and not self.title_done:
            self.title.append(data)
            return
        if not self.hidden:
            self._add(data)

    def _add(self, data: str) -> None:
        self.chunks.append(data)
        self.size += len(data)

    def finish(self) -> Page:
        for tag, still_open in self.open_links.items():  # unclosed at the end of the page
            self.links.extend(Link(tag, url, start, self.size) for url, start in still_open)
        self.links.sort(key=lambda link: link.start)  # document order (sort is stable)
        title = _SPACES.sub(" ", "".join(self.title or [])).strip()
        return Page(self.url, title, "".join(self.chunks), self.links, self.rel_links)


def _join(base: str, href: str) -> str:
    try:
        return urljoin(base, href.strip())
    except ValueError:
        return ""


def analyse_page(html: str, url: str) -> Page:
    """Read `html` (fetched from `url`, after redirects) for its title, text, links and rel links."""
    reader = _PageReader(url)
    reader.feed(html)
    reader.close()
    return reader.finish()


def find_link(page: Page, target: str) -> Link | None:
    """The first link on `page` to exactly `target` (fragments aside), or None (WM-12, PB-10).

    Relative URLs were resolved against the page's final URL (and its ``<base>``) when read.
    """
    wanted = normalize_url(target)
    for link in page.links:
        if normalize_url(link.url) == wanted:
            return link
    return None


def excerpt_around(page: Page, link: Link, radius: int = CONTEXT_CHARS) -> str:
    """The link's text (at most 100 characters) and `radius` characters either side, as
    WordPress shows a pingback: ``[…] text before LINK TEXT text after […]`` (PB-10)."""
    text = page.text
    anchor = text[link.start : min(link.end, link.start + CONTEXT_CHARS)]
    before = text[max(0, link.start - radius) : link.start]
    after = text[link.end : link.end + radius]
    excerpt = _SPACES.sub(" ", before + anchor + after).strip()
    if link.start - radius > 0:
        excerpt = f"[{ELLIPSIS}] {excerpt}"
    if link.end + radius < len(text):
        excerpt = f"{excerpt} [{ELLIPSIS}]"
    return excerpt


def html_to_text(html: str) -> str:
    """Plain text from an HTML fragment: tags dropped, entities decoded, whitespace collapsed."""
    if "<" not in html and "&" not in html:
        return _SPACES.sub(" ", CONTROL_CHARS.sub("", html)).strip()
    reader = _PageReader("")
    reader.feed(html)
    reader.close()
    return _SPACES.sub(" ", CONTROL_CHARS.sub("", reader.finish().text)).strip()


def truncate(text: str, limit: int) -> str:
    """`text` cut to `limit` characters plus "…" when longer (TB-7)."""
    text = text.strip()
    return text if len(text) <= limit else text[:limit].rstrip() + ELLIPSIS


# --- Microformats (the mf2 JSON that mf2py gives) -----------------------------------------------

# h-entry properties that point at what the entry responds to, and how a response reads.
RELATIONS = {
    "like-of": "liked this",
    "repost-of": "reposted this",
    "bookmark-of": "bookmarked this",
    "in-reply-to": "",
}


def h_entry(parsed: Mapping[str, Any], target: str) -> dict[str, str] | None:
    """From a parsed mf2 document, the h-entry that mentions `target` (else the first one), as
    plain fields: ``author``, ``name`` (only an explicit title), ``text``, ``html`` (unsanitized)
    and ``action`` ("liked this") for a like, repost or bookmark of the target. None without one.
    """
    entries = list(_entries(parsed.get("items", [])))
    if not entries:
        return None
    chosen = next((e for e in entries if _mentions(e, target)), entries[0])
    return _entry_fields(chosen.get("properties", {}), target)


def _entries(items: Any) -> Iterable[dict[str, Any]]:
    for item in items if isinstance(items, list) else ():
        if isinstance(item, dict):
            if "h-entry" in item.get("type", []):
                yield item
            yield from _entries(item.get("children", []))


def _urls(values: Any) -> list[str]:
    out: list[str] = []
    for value in values if isinstance(values, list) else ():
        if isinstance(value, str):
            out.append(value)
        elif isinstance(value, dict):
            out.extend(v for v in value.get("properties", {}).get("url", []) if isinstance(v, str))
            if isinstance(value.get("value"), str):
                out.append(value["value"])
    return out


def _mentions(entry: dict[str, Any], target: str) -> bool:
    props = entry.get("properties", {})
    if any(same_resource(u, target) for rel in RELATIONS for u in _urls(props.get(rel))):
        return True
    content = (props.get("content") or [""])[0]
    return bool(target) and isinstance(content, dict) and target in str(content.get("html", ""))


def _first(props: Mapping[str, Any], *names: str) -> Any:
    for name in names:
        values = props.get(name)
        if isinstance(values, list) and values:
            return values[0]
    return ""


def _entry_fields(props: Mapping[str, Any], target: str) -> dict[str, str]:
    author = _first(props, "author")
    if isinstance(author, dict):
        author = _first(author.get("properties", {}), "name") or author.get("value", "")
    content = _first(props, "content", "summary")
    if isinstance(content, dict):
        text, html = html_to_text(str(content.get("value", ""))), str(content.get("html", ""))
    else:
        text = html_to_text(str(content))
        html = escape(text)
    fields = {"author": html_to_text(str(author)), "text": text, "html": html}
    name = html_to_text(str(_first(props, "name")))
    # mf2 implies a name from the entry's whole text when there is no p-name: that is no title.
    if name and name not in text:
        fields["name"] = name
    for rel, action in RELATIONS.items():
        if action and any(same_resource(u, target) for u in _urls(props.get(rel))):
            fields["action"] = action
    return fields


# --- Discovery: reading other sites' endpoints (sending) -------------------------------------------

_LINK_VALUE = re.compile(r"<([^>]*)>([^<]*)")  # a link and its parameters, up to the next link
_LINK_REL = re.compile(r""";\s*rel\s*=\s*(?:"([^"]*)"|([^;,\s]+))""", re.IGNORECASE)
# The spec's own pattern (PB-3): clients must not be more lenient than this.
_PINGBACK_LINK = re.compile(r'<link rel="pingback" href="([^"]+)" ?/?>')
_RDF_ATTR = r"""{name}\s*=\s*["']([^"']*)["']"""


def parse_link_header(values: Iterable[str]) -> list[tuple[str, frozenset[str]]]:
    """(url, rels) for each link of one or more HTTP ``Link`` headers, in order."""
    found = []
    for value in values:
        for match in _LINK_VALUE.finditer(value):
            rel = _LINK_REL.search(match.group(2))
            if rel:
                rels = frozenset((rel.group(1) or rel.group(2) or "").lower().split())
                found.append((match.group(1).strip(), rels))
    return found


def find_webmention_endpoint(link_headers: Sequence[str], page: Page | None) -> str | None:
    """The target's Webmention endpoint (WM-1): the first ``Link: <…>; rel="webmention"`` header,
    else the first ``<link>`` or ``<a>`` with that rel in document order. Resolved against the
    page's final URL; ``href=""`` is the page itself. None when it advertises none."""
    base = page.url if page else ""
    for url, rels in parse_link_header(link_headers):
        if "webmention" in rels:
            return _join(base, url)
    for rel_link in page.rel_links if page else ():
        if "webmention" in rel_link.rels:
            return _join(base, rel_link.href)
    return None


def find_pingback_endpoint(x_pingback: str | None, html: str) -> str | None:
    """The pingback server: the ``X-Pingback`` header wins, else the spec's exact ``<link>`` form
    (PB-3), whose value may use only the four entities ``&amp; &lt; &gt; &quot;``."""
    if x_pingback and x_pingback.strip():
        return x_pingback.strip()
    match = _PINGBACK_LINK.search(html)
    if match is None:
        return None
    value = match.group(1)
    for entity, char in (("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"'), ("&amp;", "&")):
        value = value.replace(entity, char)
    return value


def find_trackback_ping(html: str, linked_url: str) -> str | None:
    """The TrackBack ping URL from the RDF block whose ``dc:identifier`` is the page we linked to
    (§1.5); a page with a single block is trusted without that match."""
    blocks = []
    for block in _rdf_blocks(html):
        ping = re.search(_RDF_ATTR.format(name="trackback:ping"), block)
        if ping:
            ident = re.search(_RDF_ATTR.format(name="dc:identifier"), block)
            blocks.append((unescape(ident.group(1)) if ident else "", unescape(ping.group(1))))
    for identifier, ping_url in blocks:
        if identifier and same_resource(identifier, linked_url):
            return ping_url
    return blocks[0][1] if len(blocks) == 1 else None


def _rdf_blocks(html: str) -> Iterable[str]:
    """Each ``<rdf:RDF>…</rdf:RDF>`` in one linear scan (a lazy regex is quadratic on a page of
    unclosed openings)."""
    start = html.find("<rdf:RDF")
    while start != -1:
        end = html.find("</rdf:RDF>", start)
        if end == -1:
            return
        yield html[start : end + len("</rdf:RDF>")]
        start = html.find("<rdf:RDF", end)
