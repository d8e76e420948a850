"""Webmention, the pure part: the synchronous checks of a webmention's source and target
(`check_webmention`: WM-4, WM-5). The rest happens later, on reading the source: finding the link
and the h-entry is `moderation.domain.pages`.
"""

from __future__ import annotations

from moderation.domain.linkbacks.common import (
    MAX_SOURCE_CHARS,
    MAX_TARGET_CHARS,
    LinkbackRefused,
    check_url,
)
from moderation.domain.pages import same_resource


def check_webmention(source: str, target: str) -> tuple[str, str]:
    """`source` and `target` if both are http(s) URLs naming different pages (WM-4, WM-5)."""
    source = check_url(source, name="source", max_chars=MAX_SOURCE_CHARS)
    target = check_url(target, name="target", max_chars=MAX_TARGET_CHARS)
    if same_resource(source, target):
        raise LinkbackRefused("source and target are the same page", field="source")
    return source, target
