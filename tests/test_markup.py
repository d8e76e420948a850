import pytest

from moderation.markup import count_links, render


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
