import random

import pytest

from moderation import markup
from moderation.markup import _md, count_links, markdown_html, render


def test_render_markdown_basics():
    html = render("Hello **bold** and *em*\n\n> quote\n\n- a\n- b\n\n`code`")
    for part in (
        "<strong>bold</strong>",
        "<em>em</em>",
        "<blockquote>",
        "<li>a</li>",
        "<code>code</code>",
    ):
        assert part in html


def test_render_links_get_nofollow_ugc_noopener():
    html = render("[site](https://example.org) and https://bare.example.org")
    assert html.count('rel="nofollow ugc noopener"') == 2
    assert count_links(html) == 2


@pytest.mark.parametrize(
    "text",
    [
        "<script>alert(1)</script>",
        "[x](javascript:alert(1))",
        '<img src=x onerror="alert(1)">',
        "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
        '<a href="javascript:alert(1)">x</a>',
        "![img](https://example.org/x.png)",
        '<iframe src="https://evil.example"></iframe>',
    ],
)
def test_render_never_emits_active_content(text):
    html = render(text)
    assert "<script" not in html
    assert "<img" not in html
    assert "<iframe" not in html
    assert '<a href="javascript' not in html
    assert "<img" not in html
    assert '<a href="data:' not in html
    assert not any(f"<{tag}" in html for tag in ("svg", "object", "embed", "style"))


def test_render_headings_are_plain_paragraphs():
    assert "<h1>" not in render("# Big")


# The one-paragraph shortcut (`markdown_html`) must give exactly what the whole parser gives.
_PIECES = [
    "word",
    "two words",
    "*em*",
    "**strong**",
    "_u_",
    "__uu__",
    "~~del~~",
    "`code`",
    "``x`y``",
    "[link](https://example.org)",
    "[ref][r]",
    "[r]",
    "<https://a.example>",
    "<b>",
    "&amp;",
    "&copy;",
    "&#35;",
    "\\*",
    "\\",
    "https://example.org/path?q=1",
    "www.example.org",
    "mail@example.org",
    "![img](x.png)",
    "# not a heading",
    "> quote",
    "- item",
    "1. one",
    "2)",
    "---",
    "***",
    "===",
    "|a|b|",
    "    ",
    "\t",
    " ",
    "  ",
    "\u00a0",
    "é",
    "日本語",
    "😀",
    '"q"',
    "'s",
    "(c)",
    "...",
    "--",
    "a_b_c",
    "*",
    "_",
    "`",
    "~",
    "[",
    "]",
    "(",
    ")",
    "<",
    ">",
    "!",
    "#",
    "+",
    "-",
    "=",
    "|",
    "0",
    "9.",
    "ftp://x.example",
]


def _texts() -> list[str]:
    rng = random.Random(20261206)
    texts = list(_PIECES)
    for _ in range(4000):
        texts.append("".join(rng.choice(_PIECES) for _ in range(rng.randint(1, 8))))
        texts.append(" ".join(rng.choice(_PIECES) for _ in range(rng.randint(1, 8))))
    return texts


def test_the_one_paragraph_shortcut_renders_exactly_as_the_whole_parser(monkeypatch):
    shortcut_taken = []
    render_inline = markup._md.renderInline

    def counting(text):
        shortcut_taken.append(text)
        return render_inline(text)

    monkeypatch.setattr(markup._md, "renderInline", counting)
    for text in _texts():
        assert markdown_html(text) == _md.render(text), text
    assert len(shortcut_taken) > 1000  # the comparison covered the shortcut, not only the fallback


@pytest.mark.parametrize(
    "text",
    [
        "- item",
        "1. one",
        "> quote",
        "***",
        "  indented",
        "    code",
        "line\nnext",
        "trailing  ",
        "",
        "[r]: https://example.org",
        "<div>x</div>",
    ],
)
def test_anything_that_may_be_a_block_takes_the_whole_parser(text, monkeypatch):
    def no_shortcut(_text):
        raise AssertionError("renderInline used")

    monkeypatch.setattr(markup._md, "renderInline", no_shortcut)
    assert markdown_html(text) == _md.render(text)
