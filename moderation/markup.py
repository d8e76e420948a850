"""Markdown to safe HTML, once, at write time."""

from __future__ import annotations

import re

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup

ALLOWED_TAGS = {
    "p",
    "br",
    "em",
    "strong",
    "del",
    "code",
    "pre",
    "blockquote",
    "ul",
    "ol",
    "li",
    "a",
    "hr",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}}
LINK_REL = "nofollow ugc noopener"

# Raw HTML in the text is shown as text (html=False), and what Markdown produces is still cleaned by
# nh3, so a bug in either layer alone cannot let markup through.
_md = MarkdownIt("commonmark", {"html": False, "linkify": True, "typographer": False})
_md.enable(["linkify", "strikethrough"])
_md.disable(["image", "heading", "lheading", "html_block", "html_inline"])


def render(text: str) -> str:
    """Render a reader's Markdown to sanitized HTML; links get ``rel="nofollow ugc noopener"``."""
    return clean(markdown_html(text))


def render_html(html: str) -> str:
    """Render an imported comment written in HTML (WordPress, Disqus, Remark42) to the same safe
    subset: blank lines become paragraphs and single line breaks ``<br>``, as WordPress shows
    them, unless the text already has its own paragraphs; then the same cleaner as for Markdown."""
    text = html.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        return ""
    if "<p" not in text.lower():
        paragraphs = [p.strip() for p in _BLANK_LINES.split(text) if p.strip()]
        text = "".join(f"<p>{p.replace(chr(10), '<br>' + chr(10))}</p>\n" for p in paragraphs)
    return clean(text)


def render_as(text: str, text_format: str) -> str:
    """Render stored `text` by its `text_format` ("markdown" or "html")."""
    return render_html(text) if text_format == "html" else render(text)


_BLANK_LINES = re.compile(r"\n\s*\n")

# What a line can start with to be (or begin) something other than a paragraph: headings, block
# quotes, lists, rules, fences, tables, raw HTML, reference definitions. Digits too (ordered lists).
_BLOCK_STARTS = frozenset("#>-*+_=`~|<[0123456789")


def markdown_html(text: str) -> str:
    """Markdown to HTML, not yet sanitized. Most comments are one plain paragraph: a single line
    that cannot start a block is parsed as inline text only, which gives the same HTML as the
    whole parser for about two thirds of its time (tests/test_markup.py compares the two)."""
    if (
        text
        and "\n" not in text
        and "\r" not in text
        and "\0" not in text
        and text[0] not in _BLOCK_STARTS
        and text == text.strip()
    ):
        return f"<p>{_md.renderInline(text)}</p>\n"
    return _md.render(text)


# Built once: `nh3.clean(html, tags=...)` converts its settings on every call, which costs more
# than the cleaning of a comment itself.
# Only absolute http(s) and mailto links keep their href: a relative or protocol-relative one
# (``//evil.example``; browsers read ``\\evil.example`` and ``/\evil.example`` the same way) would
# point wherever the page that shows the comment lives: the host site, our dashboard, the e-mail
# link pages. nh3 (ammonia) counts as relative whatever has no scheme of its own, those included.
_cleaner = nh3.Cleaner(
    tags=ALLOWED_TAGS,
    attributes=ALLOWED_ATTRIBUTES,
    url_schemes={"http", "https", "mailto"},
    url_relative="deny",
    link_rel=LINK_REL,
)


def clean(html: str) -> str:
    """Sanitize HTML from anywhere (Markdown output, a linkback excerpt, a stored row shown
    again) to the allowed subset; links keep their href only when it is absolute."""
    return _cleaner.clean(html).strip()


def sanitized(html: str) -> Markup:
    """Stored HTML cleaned again as it is shown, marked safe for Jinja (the templates' `sanitized`
    filter): rows stored under older rules (a protocol-relative link, say) show by today's."""
    return Markup(clean(html))  # noqa: S704  (nh3 just sanitized it)


def count_links(html: str) -> int:
    """How many links rendered HTML carries (what WordPress's max-links rule counts)."""
    return html.count("<a ")
