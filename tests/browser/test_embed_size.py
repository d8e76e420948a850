"""The widget stays small: embed.js, CSS included, under 16 KB gzipped (bench/embed_size.py prints it)."""

import gzip
from pathlib import Path

EMBED_JS = Path(__file__).resolve().parents[2] / "moderation" / "web" / "static" / "embed.js"


def test_embed_js_is_under_16_kb_gzipped():
    data = EMBED_JS.read_bytes()
    assert len(gzip.compress(data, compresslevel=9, mtime=0)) < 16384


def test_embed_js_uses_inner_html_only_for_the_comment_html():
    source = EMBED_JS.read_text(encoding="utf-8")
    assert source.count("innerHTML") == 1
    assert 't.innerHTML = typeof html === "string" ? html' in source
    for risky in ("outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert risky not in source
