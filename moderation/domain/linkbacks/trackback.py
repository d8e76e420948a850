"""TrackBack 1.2, the pure part: decoding the ping's form with its charset (TB-14), the ping itself
(`parse_trackback`: TB-3…7, TB-D10) and the XML answers, ours (`trackback_response`) and another
server's (`parse_trackback_response`, for sending). Its URL is `discovery.trackback_url`.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes
from xml.sax.saxutils import escape

from moderation.domain.inputs import one_line
from moderation.domain.linkbacks.common import (
    MAX_AUTHOR_CHARS,
    MAX_EXCERPT_CHARS,
    MAX_SOURCE_CHARS,
    MAX_TITLE_CHARS,
    LinkbackRefused,
    check_url,
    safe_xml,
)
from moderation.domain.pages import CONTROL_CHARS, ELLIPSIS, html_to_text, truncate

TRACKBACK_CLOSED = "Sorry, trackbacks are closed for this item."
TRACKBACK_DUPLICATE = "There is already a ping from that URL for this post."
TRACKBACK_POST_ONLY = "Trackback pings must use HTTP POST."
TRACKBACK_TOO_FAST = "You are sending TrackBack pings too quickly. Please try again later."

FORM_TYPES = ("application/x-www-form-urlencoded", "")


@dataclass(frozen=True)
class TrackbackPing:
    """A TrackBack ping after the TB-3…7 rules: `title` and `excerpt` are plain text."""

    url: str
    title: str
    excerpt: str
    blog_name: str
    title_given: bool = True


# --- the form and its charset ---------------------------------------------------------------------


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


# Codecs that decode ASCII as something else: escape sequences (a "\\x00" in the body would become a
# NUL), label codecs that refuse error handlers, and UTF-7 (which WordPress refuses too).
_NOT_PLAIN_TEXT = frozenset(
    {"utf-7", "unicode-escape", "raw-unicode-escape", "idna", "punycode", "undefined"}
)
# A form's names, separators and percent escapes are ASCII: a charset must read them as ASCII.
_ASCII_PROBE = bytes(range(0x20, 0x7F))


def _codec(label: str) -> str:
    """The Python codec for a charset label; refuse UTF-7, escape codecs, anything unknown, not
    text (rot13, base64) or not ASCII-compatible (UTF-16, UTF-32, EBCDIC): a form in those could
    not be split into fields anyway, and some of them fail on any error handler (a 500)."""
    refused = LinkbackRefused(f"unsupported charset {CONTROL_CHARS.sub('', label.strip())[:40]!r}")
    try:
        name = codecs.lookup(label.strip()).name
    except (LookupError, ValueError):  # ValueError: a NUL in the label
        raise refused from None
    if name == "utf-7":
        raise LinkbackRefused("the UTF-7 charset is refused")
    if name in _NOT_PLAIN_TEXT:
        raise refused
    try:
        plain = _ASCII_PROBE.decode(name) == _ASCII_PROBE.decode("ascii")
    except (LookupError, ValueError):  # not a text codec; UnicodeError is a ValueError
        plain = False
    if not plain:
        raise refused
    return name


def _decode(value: bytes, codec: str | None) -> str:
    if codec is not None:
        try:
            return value.decode(codec, "replace")
        except (LookupError, ValueError):  # a stateful codec that fails even with "replace"
            raise LinkbackRefused(f"the body is not valid {codec}") from None
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("windows-1252", "replace")


# --- the ping -------------------------------------------------------------------------------------


def parse_trackback(fields: Mapping[str, str]) -> TrackbackPing:
    """A `TrackbackPing` from decoded form fields; raise `LinkbackRefused` without a good `url`.

    Unknown fields are ignored (TB-3). HTML and control characters are stripped from every field
    (TB-D10, `plain_line`). A missing
    title becomes the first five words of the excerpt, else the URL (TB-6). The title is cut to
    250 and the excerpt to 252 characters plus "…" (TB-7).
    """
    url = check_url(fields.get("url", ""), name="url", max_chars=MAX_SOURCE_CHARS)
    excerpt = truncate(plain_line(fields.get("excerpt", "")), MAX_EXCERPT_CHARS)
    title = plain_line(fields.get("title", ""))
    given = bool(title)
    if not title:
        words = excerpt.split()
        title = " ".join(words[:5]) + (f" {ELLIPSIS}" if len(words) > 5 else "") if words else url
    blog_name = truncate(plain_line(fields.get("blog_name", "")), MAX_AUTHOR_CHARS)
    return TrackbackPing(url, truncate(title, MAX_TITLE_CHARS), excerpt, blog_name, given)


def plain_line(value: str) -> str:
    """A field as one line of plain text: HTML dropped, then every control character, C1 control
    and line or paragraph separator made a space (`inputs.one_line`, the widget's rule for
    one-line fields), spaces collapsed. Stripped rather than refused: the sender's software, not a
    person, put them there, and refusing would lose a genuine ping."""
    return " ".join(one_line(html_to_text(value)).split())


# --- the answers ----------------------------------------------------------------------------------


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
    root = safe_xml(body)
    error = (root.findtext("error") or "").strip()
    return error == "0", (root.findtext("message") or "").strip()
