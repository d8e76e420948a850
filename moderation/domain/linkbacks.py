"""TrackBack 1.2, Pingback 1.0 and Webmention, the pure part: parse what senders send, render what
the protocols answer, advertise our endpoints. No I/O here (PROTOCOLS.md §1–3); reading pages for
links and endpoints is `moderation.domain.pages`.

* TrackBack: `decode_form` (charsets, TB-14), `parse_trackback` (TB-3…7, TB-D10), `trackback_response`.
* Pingback: `parse_pingback_request` (XML-RPC through defusedxml: no DTD, no entities, so no
  billion laughs and no external entities), `xmlrpc_fault` / `xmlrpc_success`, the fault codes.
* Webmention: `check_webmention` (WM-4, WM-5).
* Discovery: `discovery_markup` for advertising (TB-15, PB-4); `pages` finds other sites'
  endpoints for sending.
"""

from __future__ import annotations

import codecs
import re
import xmlrpc.client
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import quote, unquote_to_bytes, urlsplit
from xml.etree.ElementTree import Element, ParseError
from xml.sax.saxutils import escape

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as safe_fromstring

from moderation.domain.pages import CONTROL_CHARS, ELLIPSIS, html_to_text, same_resource, truncate
from moderation.errors import InvalidInput

# Limits (TB-7, TB-D10): one rule for every channel. Sources are stored as the author's website,
# a 512-character column; targets only need to name a thread (a uri of at most 1024 characters).
MAX_SOURCE_CHARS = 512
MAX_TARGET_CHARS = 2048
MAX_TITLE_CHARS = 250
MAX_EXCERPT_CHARS = 252
MAX_AUTHOR_CHARS = 200

# Pingback 1.0 fault codes (§2.2); the high nibble says whose problem it is (PB-1).
FAULT_GENERIC = 0
FAULT_SOURCE_MISSING = 0x10
FAULT_NO_LINK = 0x11
FAULT_TARGET_MISSING = 0x20
FAULT_TARGET_INVALID = 0x21
FAULT_ALREADY_REGISTERED = 0x30
FAULT_ACCESS_DENIED = 0x31
FAULT_UPSTREAM = 0x32  # for proxies only: never raised here, listed for completeness
# XML-RPC's interoperability codes, for requests that are not a pingback.ping call at all.
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602

TRACKBACK_CLOSED = "Sorry, trackbacks are closed for this item."
TRACKBACK_DUPLICATE = "There is already a ping from that URL for this post."
TRACKBACK_POST_ONLY = "Trackback pings must use HTTP POST."
TRACKBACK_TOO_FAST = "You are sending TrackBack pings too quickly. Please try again later."

FORM_TYPES = ("application/x-www-form-urlencoded", "")


class LinkbackRefused(InvalidInput):
    """A linkback refused before it is stored. `fault` is the Pingback fault code it stands for;
    the web layer turns it into the protocol's own answer."""

    code = "linkback_refused"

    def __init__(self, message: str, *, fault: int = FAULT_GENERIC, field: str | None = None):
        super().__init__(message, fields={field: message} if field else None)
        self.fault = fault


# --- URLs ----------------------------------------------------------------------------------------


def check_url(value: str, *, name: str, max_chars: int, fault: int = FAULT_GENERIC) -> str:
    """`value` stripped, if it is an absolute http(s) URL without credentials; else refuse it.

    Raises `LinkbackRefused` naming `name` (TB-5, WM-4; Pingback faults 16/32 via `fault`).
    """
    value = value.strip()
    if not value:
        raise LinkbackRefused(f"{name} is required", fault=fault, field=name)
    if len(value) > max_chars:
        raise LinkbackRefused(
            f"{name} is too long (at most {max_chars} characters)", fault=fault, field=name
        )
    try:
        parts = urlsplit(value)
        _ = parts.port  # a bad port raises ValueError only when read
    except ValueError:
        raise LinkbackRefused(f"{name} is not a valid URL", fault=fault, field=name) from None
    if (
        parts.scheme.lower() not in ("http", "https")
        or not parts.hostname
        or any(ch.isspace() or ord(ch) < 32 or ch == "\x7f" for ch in value)
    ):
        raise LinkbackRefused(f"{name} must be an absolute http(s) URL", fault=fault, field=name)
    if parts.username is not None or parts.password is not None:
        raise LinkbackRefused(f"{name} must not carry credentials", fault=fault, field=name)
    return value


def host_of(url: str) -> str:
    """The host of `url`, for a stand-in author name ("" when there is none)."""
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""


def trackback_url(public_url: str, site: str, uri: str, key: str = "") -> str:
    """The TrackBack ping URL of page `uri` of `site` (what the thread JSON advertises), with the
    page's `key` when the site signs its ping URLs (TB-D8)."""
    url = f"{public_url.rstrip('/')}/trackback/{site}{quote(uri, safe='/')}"
    return f"{url}?key={key}" if key else url


# --- TrackBack ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrackbackPing:
    """A TrackBack ping after the TB-3…7 rules: `title` and `excerpt` are plain text."""

    url: str
    title: str
    excerpt: str
    blog_name: str
    title_given: bool = True


def decode_form(body: bytes, content_type: str) -> dict[str, str]:
    """The fields of a form-encoded body, decoded as TB-14 says.

    Charset order: the Content-Type ``charset`` parameter, then a ``charset`` form field (what
    WordPress and Japanese blog software send), then strict UTF-8, then windows-1252. UTF-7 and
    unknown charsets are refused. The first value of a repeated field wins.
    """
    media_type, _, params = content_type.partition(";")
    if media_type.strip().lower() not in FORM_TYPES:
        raise LinkbackRefused("send the ping as application/x-www-form-urlencoded")
    raw: dict[bytes, bytes] = {}
    for key, value in _form_pairs(body):
        raw.setdefault(key, value)
    header = re.search(r"""charset\s*=\s*["']?([^"';\s]+)""", params, re.IGNORECASE)
    label = header.group(1) if header else raw.get(b"charset", b"").decode("ascii", "replace")
    codec = _codec(label) if label.strip() else None
    fields = {}
    for key, value in raw.items():
        name = key.decode("ascii", "replace")
        fields[name] = _decode(value, codec)
    return fields


def _form_pairs(body: bytes) -> Iterable[tuple[bytes, bytes]]:
    """Percent-decoded (name, value) byte pairs; the stdlib's parse_qsl would decode the bytes
    before we know the charset."""
    for part in body.split(b"&"):
        if part:
            key, _, value = part.partition(b"=")
            yield (
                unquote_to_bytes(key.replace(b"+", b" ")),
                unquote_to_bytes(value.replace(b"+", b" ")),
            )


def _codec(label: str) -> str:
    """The Python codec for a charset label; refuse UTF-7 and anything unknown or not text."""
    try:
        name = codecs.lookup(label.strip()).name
        b"a".decode(name)  # non-text codecs (rot13, base64) raise LookupError (b"" would not)
    except LookupError:
        raise LinkbackRefused(f"unsupported charset {label.strip()[:40]!r}") from None
    if name == "utf-7":
        raise LinkbackRefused("the UTF-7 charset is refused")
    return name


def _decode(value: bytes, codec: str | None) -> str:
    if codec is not None:
        return value.decode(codec, "replace")
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("windows-1252", "replace")


def parse_trackback(fields: Mapping[str, str]) -> TrackbackPing:
    """A `TrackbackPing` from decoded form fields; raise `LinkbackRefused` without a good `url`.

    Unknown fields are ignored (TB-3). HTML is stripped from every field (TB-D10). A missing
    title becomes the first five words of the excerpt, else the URL (TB-6). The title is cut to
    250 and the excerpt to 252 characters plus "…" (TB-7).
    """
    url = check_url(fields.get("url", ""), name="url", max_chars=MAX_SOURCE_CHARS)
    excerpt = truncate(html_to_text(fields.get("excerpt", "")), MAX_EXCERPT_CHARS)
    title = html_to_text(fields.get("title", ""))
    given = bool(title)
    if not title:
        words = excerpt.split()
        title = " ".join(words[:5]) + (f" {ELLIPSIS}" if len(words) > 5 else "") if words else url
    blog_name = truncate(html_to_text(fields.get("blog_name", "")), MAX_AUTHOR_CHARS)
    return TrackbackPing(url, truncate(title, MAX_TITLE_CHARS), excerpt, blog_name, given)


def trackback_response(error: str | None = None) -> str:
    """The spec's answer: ``<error>0</error>``, or ``<error>1</error>`` and the escaped message.

    The XML declaration comes first, with nothing before it (§1.2).
    """
    head = '<?xml version="1.0" encoding="utf-8"?>\n<response>\n'
    if error is None:
        return head + "<error>0</error>\n</response>\n"
    message = escape(CONTROL_CHARS.sub("", error))
    return head + f"<error>1</error>\n<message>{message}</message>\n</response>\n"


def parse_trackback_response(body: bytes) -> tuple[bool, str]:
    """(success, message) from a TrackBack server's answer (for sending)."""
    root = _safe_xml(body)
    error = (root.findtext("error") or "").strip()
    return error == "0", (root.findtext("message") or "").strip()


# --- Pingback (XML-RPC) ---------------------------------------------------------------------------


def parse_pingback_request(body: bytes) -> tuple[str, str]:
    """(sourceURI, targetURI) of an XML-RPC ``pingback.ping`` call.

    Raises `LinkbackRefused` with XML-RPC's interoperability fault codes: -32700 (not well-formed,
    or a DTD/entity: refused outright), -32600 (not a methodCall), -32601 (another method),
    -32602 (not exactly two string parameters).
    """
    root = _safe_xml(body)
    if root.tag != "methodCall":
        raise LinkbackRefused("invalid XML-RPC request: no methodCall", fault=INVALID_REQUEST)
    method = (root.findtext("methodName") or "").strip()
    if method != "pingback.ping":
        raise LinkbackRefused(f"method {method[:64]!r} does not exist", fault=METHOD_NOT_FOUND)
    values = [param.find("value") for param in root.iterfind("params/param")]
    strings = [_xmlrpc_string(v) for v in values if v is not None]
    if len(values) != 2 or len(strings) != 2 or None in strings:
        raise LinkbackRefused(
            "pingback.ping takes two strings: sourceURI, targetURI", fault=INVALID_PARAMS
        )
    source, target = strings
    return source or "", target or ""


def _xmlrpc_string(value: Element) -> str | None:
    """The text of an XML-RPC ``<value>`` holding a string (typed or not), else None."""
    children = list(value)
    if not children:
        return value.text or ""
    if len(children) == 1 and children[0].tag == "string":
        return children[0].text or ""
    return None


def _safe_xml(body: bytes) -> Element:
    """Parse untrusted XML; DTDs (so every entity trick) and external references are refused."""
    try:
        return safe_fromstring(body, forbid_dtd=True)
    except DefusedXmlException:
        raise LinkbackRefused(
            "parse error: DTDs and entities are not accepted", fault=PARSE_ERROR
        ) from None
    except (ParseError, ValueError, LookupError, UnicodeError):
        raise LinkbackRefused("parse error: not well-formed XML", fault=PARSE_ERROR) from None


def xmlrpc_fault(code: int, message: str) -> str:
    """An XML-RPC fault response."""
    fault = xmlrpc.client.Fault(code, CONTROL_CHARS.sub("", message))
    return xmlrpc.client.dumps(fault, methodresponse=True)


def xmlrpc_success(message: str) -> str:
    """An XML-RPC response carrying one string (Pingback's success: debug text only)."""
    return xmlrpc.client.dumps((CONTROL_CHARS.sub("", message),), methodresponse=True)


def pingback_request(source: str, target: str) -> str:
    """The XML-RPC body of ``pingback.ping(source, target)`` (for sending)."""
    return xmlrpc.client.dumps((source, target), "pingback.ping")


def parse_xmlrpc_response(body: bytes) -> tuple[int | None, str]:
    """(None, string) for a success, (faultCode, faultString) for a fault (for sending)."""
    root = _safe_xml(body)
    fault = root.find("fault/value/struct")
    if fault is None:
        value = root.find("params/param/value")
        return None, (_xmlrpc_string(value) or "") if value is not None else ""
    members = {
        (m.findtext("name") or "").strip(): m.find("value") for m in fault.iterfind("member")
    }
    code_value = members.get("faultCode")
    code_text = "".join(code_value.itertext()).strip() if code_value is not None else ""
    message = members.get("faultString")
    text = "".join(message.itertext()).strip() if message is not None else ""
    try:
        return int(code_text), text
    except ValueError:
        return FAULT_GENERIC, text


# --- Webmention -----------------------------------------------------------------------------------


def check_webmention(source: str, target: str) -> tuple[str, str]:
    """`source` and `target` if both are http(s) URLs naming different pages (WM-4, WM-5)."""
    source = check_url(source, name="source", max_chars=MAX_SOURCE_CHARS)
    target = check_url(target, name="target", max_chars=MAX_TARGET_CHARS)
    if same_resource(source, target):
        raise LinkbackRefused("source and target are the same page", field="source")
    return source, target


# --- Discovery: advertising ours ------------------------------------------------------------------


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
