"""Hostile comments rendered by the widget in Chromium: nothing runs, nothing is injected.

The payloads (``xss_payloads.txt``, one per line) follow the OWASP XSS filter evasion cheat sheet and
similar public lists: script and event-handler tags, obfuscated ``javascript:`` URLs, Markdown links,
SVG/MathML mutation tricks, attribute breakouts, DOM clobbering. Each one goes into a comment's text,
author name and website twice over:

- through the API, as a reader would post it (the server renders and sanitizes the Markdown, and
  refuses non-http(s) websites, so only the acceptable websites are kept);
- straight into the database, bypassing every server-side check, with the payload itself as the
  stored HTML: then only the widget's own care (textContent, setAttribute, URL scheme checks and its
  second allowlist filter over ``html``) stands between the payload and the page.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

PAYLOADS = [
    line
    for line in (Path(__file__).parent / "xss_payloads.txt").read_text(encoding="utf-8").split("\n")
    if line.strip()
]

# Everything that would let a payload act: handlers, script URLs, foreign elements, clobbered ids.
INSPECT = r"""() => {
  const problems = [];
  const boxes = document.querySelectorAll("#comments");
  if (boxes.length !== 1) problems.push("#comments is clobbered: " + boxes.length);
  const box = boxes[0], list = box.querySelector(".mod-list");
  const urlAttr = /^(href|src|srcset|action|formaction|xlink:href|data|background|srcdoc|poster|dynsrc|lowsrc|codebase|cite|longdesc|ping)$/i;
  for (const el of box.querySelectorAll("*")) {
    for (const a of el.attributes) {
      if (/^on/i.test(a.name)) problems.push(`${el.tagName} has ${a.name}`);
      if (urlAttr.test(a.name) && /^[\s\x00-\x1f]*(javascript|data|vbscript):/i.test(a.value))
        problems.push(`${el.tagName} ${a.name}=${a.value}`);
      if (a.name === "style") problems.push(`${el.tagName} has a style attribute`);
      if (a.name === "id" && !/^(comment-\d+|mod\d+-[\w-]+)$/.test(a.value)) problems.push(`id=${a.value}`);
      if (a.name === "name" && el.closest(".mod-list")) problems.push(`name=${a.value}`);
    }
  }
  const foreign = "script,style,iframe,frame,frameset,object,embed,applet,svg,math,form,input,textarea," +
    "select,link,meta,base,video,audio,source,details,marquee,template,noscript,table,body,img:not(.mod-av)," +
    "button:not(.mod-link)";
  for (const el of list.querySelectorAll(foreign)) problems.push(`element ${el.tagName}`);
  for (const el of list.querySelectorAll(".mod-body *"))
    if (!/^(P|BR|EM|STRONG|DEL|CODE|PRE|BLOCKQUOTE|UL|OL|LI|A|HR)$/.test(el.tagName))
      problems.push(`comment body has ${el.tagName}`);
  for (const a of list.querySelectorAll("a[href]"))
    if (!["http:", "https:", "mailto:"].includes(new URL(a.href).protocol)) problems.push(`link to ${a.href}`);
  for (const img of list.querySelectorAll("img"))
    if (!/^https?:\/\//.test(img.getAttribute("src"))) problems.push(`image from ${img.src}`);
  for (const a of list.querySelectorAll("a.mod-name"))
    if (a.rel !== "nofollow ugc noopener") problems.push(`author link rel=${a.rel}`);
  return problems;
}"""


def assert_inert(reader, page, url):
    # Give late effects (image errors, animations, media events, refreshes) a moment to fire.
    page.mouse.move(300, 300)
    page.keyboard.press("Tab")
    page.wait_for_timeout(400)
    assert reader.dialogs == []
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert page.evaluate("typeof window.parent.__xss") == "undefined"
    assert page.evaluate(INSPECT) == []
    assert page.url == url  # no meta refresh, no base-href redirect
    assert reader.errors == []


CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def test_the_payload_list_is_long_enough():
    assert len(set(PAYLOADS)) == len(PAYLOADS) >= 50


def test_payloads_posted_through_the_api(reader, live_server, unique_uri):
    authors = []
    for i, payload in enumerate(PAYLOADS):
        fields = {"author": payload[:200], "website": payload, "email": f"r{i}@example.org"}
        body = {"site": "blog", "uri": unique_uri, "text": payload, **fields}
        status, data, _ = live_server.api("POST", "/api/v1/comments", body)
        refused = set(data["error"].get("fields", {})) if status == 400 else set()
        if refused and refused <= {"website", "author"}:
            # The server refuses a website it cannot link and a name with control characters:
            # fine, keep the rest of the payload (the name without its control characters).
            body.pop("website")
            body["author"] = CONTROL.sub("", body["author"])
            status, data, _ = live_server.api("POST", "/api/v1/comments", body)
        assert status == 201, (payload, data)
        authors.append(body["author"].strip())
    page = reader.open(unique_uri)
    show_every_page(page)
    expect(page.locator(".mod-c")).to_have_count(len(PAYLOADS))
    names = page.locator(".mod-name").all_text_contents()
    assert sorted(names) == sorted(authors)
    assert_inert(reader, page, page.url)


def test_payloads_stored_raw_bypassing_the_server(reader, live_server, unique_uri):
    parent = None
    for i, payload in enumerate(PAYLOADS):
        parent = live_server.add(
            unique_uri,
            payload,
            author=payload,
            website=payload,
            html_override=payload,
            parent=parent if i % 4 else None,
        )
    page = reader.open(unique_uri)
    show_every_page(page)
    expect(page.locator(".mod-c")).to_have_count(len(PAYLOADS))
    assert sorted(page.locator(".mod-name").all_text_contents()) == sorted(PAYLOADS)
    # Only real http(s) websites become links; the rest are names in plain text.
    linked = page.locator("a.mod-name").evaluate_all("els => els.map(a => a.getAttribute('href'))")
    assert all(href.startswith(("http://", "https://")) for href in linked)
    assert_inert(reader, page, page.url)


def test_the_form_echoes_nothing_as_html(reader, unique_uri):
    """The reader's own hostile input, in the preview, the field messages and the held copy."""
    page = reader.open(unique_uri, site="held")
    form = page.locator("#comments > form")
    payload = '<img src=x onerror="window.__xss=1"><script>window.__xss=1</script>'
    form.get_by_label("Name").fill(payload)
    form.get_by_label("Website").fill("javascript:window.__xss=1")
    form.get_by_label("Comment").fill(payload + "\n\n[x](javascript:window.__xss=1)")
    form.get_by_role("button", name="Preview").click()
    form.get_by_role("button", name="Post comment").click()
    expect(form.locator(".mod-f-website .mod-err")).not_to_be_empty()
    form.get_by_label("Website").fill("")
    form.get_by_role("button", name="Post comment").click()
    expect(page.locator(".mod-held .mod-name")).to_have_text(payload)
    reader.reload()
    expect(page.locator(".mod-held .mod-name")).to_have_text(payload)
    assert_inert(reader, page, page.url)


def show_every_page(page) -> None:
    """Press "Show more comments" until the whole thread is there (pages of the site's size)."""
    more = page.get_by_role("button", name="Show more comments")
    while more.is_visible():
        count = page.locator(".mod-c").count()
        more.click()
        expect(page.locator(".mod-c")).not_to_have_count(count)
