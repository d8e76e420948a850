"""The widget in real headless Chromium against the real app: post, reply, held comments, edit,
delete, counts, error messages, keyboard use, preview, languages, themes, and the screenshots."""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect

from moderation.domain.states import CommentKind, CommentStatus

pytestmark = pytest.mark.browser

DOCS = Path(__file__).resolve().parents[2] / "docs"


def write(page, text, author="Ann", email="ann@example.org", website=""):
    form = page.locator("#comments > form")
    form.get_by_label("Name").fill(author)
    form.get_by_label("E-mail").fill(email)
    form.get_by_label("Website").fill(website)
    form.get_by_label("Comment").fill(text)
    return form


def comment(page, cid):
    return page.locator(f"#comment-{cid}")


def test_post_shows_the_comment_at_once_and_remembers_the_author(reader, live_server, unique_uri):
    page = reader.open(
        unique_uri,
        before=f'<p><span data-comment-count data-uri="{unique_uri}">…</span> comments</p>',
    )
    expect(page.locator(".mod-title")).to_have_text("No comments yet")
    form = write(page, "Hello *world*", website="ann.example.org")
    form.get_by_role("button", name="Post comment").click()
    expect(form.locator(".mod-msg")).to_have_text(  # the edit window is told (issue 19)
        "Your comment was published. You can edit or delete this comment for 15 minutes."
    )
    art = page.locator(".mod-c").first
    expect(art.locator(".mod-body em")).to_have_text("world")
    expect(page.locator(".mod-title")).to_have_text("1 comment")
    expect(page.locator("[data-comment-count]")).to_have_text("1")
    expect(art).to_be_focused()
    name = art.locator("a.mod-name")
    expect(name).to_have_text("Ann")
    expect(name).to_have_attribute("href", "http://ann.example.org/")
    expect(name).to_have_attribute("rel", "nofollow ugc noopener")
    avatar = art.locator("img.mod-av")
    expect(avatar).to_have_attribute("alt", "")
    assert avatar.get_attribute("src").startswith(live_server.url + "/avatar/")
    time_el = art.locator("time")
    expect(time_el).to_have_text("now")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", time_el.get_attribute("datetime"))
    assert time_el.get_attribute("title")
    expect(form.get_by_label("Comment")).to_have_value("")

    reader.reload()
    form = page.locator("#comments > form")
    expect(form.get_by_label("Name")).to_have_value("Ann")
    expect(form.get_by_label("E-mail")).to_have_value("ann@example.org")
    expect(form.get_by_label("Website")).to_have_value("ann.example.org")


def test_relative_times_and_deleted_placeholders(reader, live_server, unique_uri):
    gone = live_server.add(unique_uri, "gone", status=CommentStatus.deleted, ago=timedelta(days=3))
    live_server.add(unique_uri, "Still here.", author="Bob", parent=gone, ago=timedelta(minutes=3))
    live_server.add(unique_uri, "Old.", author="Cy", ago=timedelta(days=2, hours=1))
    page = reader.open(unique_uri)
    expect(comment(page, gone)).to_have_text("This comment was deleted.")
    expect(comment(page, gone).get_by_role("button")).to_have_count(0)
    expect(page.locator(".mod-c time")).to_have_text(["3 minutes ago", "2 days ago"])


def test_reply_opens_a_form_under_the_comment_and_nests_the_reply(reader, live_server, unique_uri):
    first = live_server.post(unique_uri, "First!", author="Ann")["comment"]["id"]
    page = reader.open(unique_uri)
    art = comment(page, first)
    reply = art.get_by_role("button", name="Reply to Ann")
    reply.click()
    expect(reply).to_have_attribute("aria-expanded", "true")
    form = art.locator("form")
    expect(art.get_by_role("form", name="Reply to Ann")).to_be_visible()
    expect(form.get_by_label("Comment")).to_be_focused()
    form.get_by_label("Name").fill("Bob")
    form.get_by_label("Comment").fill("Second, and a reply.")
    form.get_by_role("button", name="Post reply").click()
    nested = page.locator(f"#comment-{first} + ol.mod-replies .mod-c")
    expect(nested.locator(".mod-body")).to_have_text("Second, and a reply.")
    expect(nested).to_be_focused()
    expect(art.locator("form")).to_have_count(0)
    expect(page.locator(".mod-title")).to_have_text("2 comments")

    # Cancel and Escape close a reply form and give the focus back to its button.
    art.get_by_role("button", name="Reply to Ann").click()
    art.get_by_role("button", name="Cancel").click()
    expect(art.locator("form")).to_have_count(0)
    expect(art.get_by_role("button", name="Reply to Ann")).to_be_focused()
    page.keyboard.press("Enter")
    expect(art.locator("form textarea")).to_be_focused()
    page.keyboard.press("Escape")
    expect(art.locator("form")).to_have_count(0)


def test_held_comment_is_seen_by_its_author_only(reader, another_reader, live_server, unique_uri):
    page = reader.open(unique_uri, site="held")
    form = write(page, "Please approve me.", author="Hana")
    form.get_by_role("button", name="Post comment").click()
    expect(form.locator(".mod-msg")).to_contain_text("awaiting moderation")
    held = page.locator(".mod-c.mod-held")
    expect(held.locator(".mod-badge")).to_have_text("awaiting moderation")
    expect(held.locator(".mod-body")).to_have_text("Please approve me.")
    expect(held.get_by_role("button", name=re.compile("Reply"))).to_have_count(0)
    # Not "No comments yet" above the reader's own held comment (issue 19).
    expect(page.locator(".mod-title")).to_have_text("1 comment")

    reader.reload()  # kept in localStorage
    expect(page.locator(".mod-c.mod-held .mod-body")).to_have_text("Please approve me.")
    other = another_reader.open(unique_uri, site="held")
    expect(other.locator(".mod-c")).to_have_count(0)

    cid = reader.own("held", unique_uri)[0]["id"]
    live_server.approve(cid)
    reader.reload()
    expect(page.locator(".mod-c")).to_have_count(1)
    expect(page.locator(".mod-held")).to_have_count(0)
    [entry] = reader.own("held", unique_uri)
    assert "c" not in entry  # the copy is dropped; the edit token stays for the window
    expect(comment(page, cid).get_by_role("button", name="Edit")).to_be_visible()
    another_reader.reload()
    expect(other.locator(".mod-c .mod-body")).to_have_text("Please approve me.")
    expect(other.get_by_role("button", name="Edit")).to_have_count(0)

    # Once the edit window is over, a held copy is dropped too.
    form = write(page, "A second one.", author="Hana")
    form.get_by_role("button", name="Post comment").click()
    expect(page.locator(".mod-held")).to_have_count(1)
    page.evaluate(
        """k => { const a = JSON.parse(localStorage.getItem(k));
                  a.forEach(o => { o.exp = Date.now() - 1000; });
                  localStorage.setItem(k, JSON.stringify(a)); }""",
        f"moderation:own:held:{unique_uri}",
    )
    reader.reload()
    expect(page.locator(".mod-held")).to_have_count(0)
    expect(page.get_by_role("button", name="Edit")).to_have_count(0)
    assert reader.own("held", unique_uri) == []


def test_edit_and_delete_own_comments(reader, live_server, unique_uri):
    page = reader.open(unique_uri)
    form = write(page, "Frist post")
    form.get_by_role("button", name="Post comment").click()
    mine = page.locator(".mod-c").first
    expect(mine.locator(".mod-body")).to_have_text("Frist post")
    cid = reader.own("blog", unique_uri)[0]["id"]

    mine.get_by_role("button", name="Edit").click()
    box = mine.locator("form textarea")
    expect(box).to_be_focused()
    expect(box).to_have_value("Frist post")
    box.fill("First **post**")
    mine.get_by_role("button", name="Save").click()
    expect(mine.locator(".mod-body strong")).to_have_text("post")
    expect(mine.locator(".mod-edited")).to_have_text("edited")
    expect(mine).to_be_focused()
    expect(page.locator(".mod-status")).to_have_text("Your changes were saved.")

    # Someone replies; deleting leaves a placeholder that keeps the reply in place.
    live_server.post(unique_uri, "I agree.", author="Bob", parent=cid)
    reader.reload()
    mine = comment(page, cid)
    mine.get_by_role("button", name="Delete").click()
    expect(mine.locator(".mod-acts")).to_contain_text("Delete this comment?")
    mine.get_by_role("button", name="Cancel").click()
    expect(mine.get_by_role("button", name="Delete")).to_be_focused()
    mine.get_by_role("button", name="Delete").click()
    mine.get_by_role("button", name="Yes, delete").click()
    expect(page.locator(".mod-status")).to_have_text("Your comment was deleted.")
    expect(comment(page, cid)).to_have_text("This comment was deleted.")
    expect(page.locator(".mod-replies .mod-body")).to_have_text("I agree.")
    expect(page.locator(".mod-title")).to_be_focused()
    assert reader.own("blog", unique_uri) == []
    # Bob's reply is not ours: no edit or delete buttons.
    expect(page.get_by_role("button", name="Edit")).to_have_count(0)
    expect(page.get_by_role("button", name="Delete")).to_have_count(0)


def test_counts_fill_with_one_request_per_site(reader, live_server, unique_uri):
    a, b, c = unique_uri + "a/", unique_uri + "b/", unique_uri + "c/"
    live_server.post(a, "one")
    live_server.post(a, "two")
    live_server.post(b, "three")
    live_server.add(c, "held site, approved", site="held")
    spans = (
        "".join(
            f'<span data-comment-count data-uri="{u}" id="n{i}">…</span>'
            for i, u in enumerate([a, b, unique_uri + "none/", a])
        )
        + f'<span data-comment-count data-site="held" data-uri="{c}" id="held">…</span>'
    )
    requests = []
    reader.page.on("request", lambda r: "/api/v1/counts" in r.url and requests.append(r.url))
    page = reader.open(a, before=f"<p>{spans}</p>")
    for sel, text in [("#n0", "2"), ("#n1", "1"), ("#n2", "0"), ("#n3", "2"), ("#held", "1")]:
        expect(page.locator(sel)).to_have_text(text)
    assert len(requests) == 2
    assert sorted(re.search(r"site=(\w+)", u)[1] for u in requests) == ["blog", "held"]


def test_field_errors_appear_next_to_the_fields(reader, unique_uri):
    page = reader.open(unique_uri)
    form = write(page, "", email="not-an-address")
    form.get_by_role("button", name="Post comment").click()
    expect(form.locator(".mod-msg")).to_have_text("Please check the marked fields.")
    email = form.get_by_label("E-mail")
    expect(email).to_have_attribute("aria-invalid", "true")
    expect(form.locator(".mod-f-email .mod-err")).to_have_text("This is not an e-mail address.")
    expect(form.locator(".mod-f-text .mod-err")).to_have_text("Please fill in this field.")
    expect(email).to_be_focused()  # the first field with a problem, in the form's order
    err_id = form.locator(".mod-f-email .mod-err").get_attribute("id")
    assert err_id in email.get_attribute("aria-describedby").split()
    form.get_by_label("E-mail").fill("ann@example.org")
    form.get_by_label("Comment").fill("Fixed.")
    form.get_by_role("button", name="Post comment").click()
    expect(page.locator(".mod-c .mod-body")).to_have_text("Fixed.")
    expect(form.locator(".mod-err:not(:empty)")).to_have_count(0)
    expect(email).not_to_have_attribute("aria-invalid", "true")

    form.get_by_label("Comment").fill("Fixed.")
    form.get_by_role("button", name="Post comment").click()
    expect(form.locator(".mod-msg")).to_have_text("You have already posted this comment.")


def test_rate_limit_message_says_when_to_retry(reader, live_server, unique_uri):
    page = reader.open(unique_uri)
    with live_server.settings_override(**{"guard.rate_limit": "2 per minute"}):
        live_server.post(unique_uri, "one")
        live_server.post(unique_uri, "two")
        form = write(page, "three")
        form.get_by_role("button", name="Post comment").click()
        msg = form.locator(".mod-msg")
        expect(msg).to_have_text(
            re.compile(
                r"^You are posting too quickly\. Please try again in \d+ "
                r"seconds?\.$"
            )
        )
        seconds = int(re.search(r"\d+", msg.text_content())[0])
        assert 1 <= seconds <= 60
        expect(msg).to_have_class(re.compile("mod-bad"))
        expect(form.get_by_role("button", name="Post comment")).to_be_enabled()


def test_closed_thread_hides_the_form(reader, another_reader, live_server, unique_uri):
    live_server.post(unique_uri, "Before closing.", author="Ann")
    page = reader.open(unique_uri)
    live_server.close(unique_uri)  # while the reader is writing a reply
    page.get_by_role("button", name="Reply to Ann").click()
    reply = page.locator(".mod-c form")
    reply.get_by_label("Comment").fill("Too late?")
    reply.get_by_role("button", name="Post reply").click()
    closed = page.locator(".mod-closed")
    expect(closed).to_have_text("Comments are closed.")
    expect(closed).to_be_focused()
    expect(page.locator(".mod-c form")).to_have_count(0)
    expect(page.locator("#comments > form")).to_be_hidden()
    expect(page.get_by_role("button", name=re.compile("Reply"))).to_have_count(0)

    other = another_reader.open(unique_uri)
    expect(other.locator(".mod-closed")).to_be_visible()
    expect(other.locator("#comments > form")).to_be_hidden()
    expect(other.get_by_role("button", name=re.compile("Reply"))).to_have_count(0)
    expect(other.locator(".mod-c .mod-body")).to_have_text("Before closing.")


def test_network_failure_is_explained_and_can_be_retried(reader, live_server, unique_uri):
    live_server.post(unique_uri, "Hello.")
    reader.page.route("**/api/v1/threads/comments*", lambda route: route.abort())
    page = reader.open(unique_uri, wait=False)
    status = page.locator(".mod-status")
    expect(status).to_contain_text("The comments could not be loaded.")
    expect(status).to_contain_text("cannot be reached")
    reader.page.unroute("**/api/v1/threads/comments*")
    status.get_by_role("button", name="Try again").click()
    expect(page.locator(".mod-c .mod-body")).to_have_text("Hello.")
    expect(status).to_have_text("")


def test_keyboard_only(reader, unique_uri):
    page = reader.open(unique_uri)
    page.locator("body").focus()
    names = []
    for _ in range(4):
        page.keyboard.press("Tab")
        names.append(page.evaluate("document.activeElement.name"))
    assert names == ["author", "email", "website", "text"]  # the honeypot is skipped
    page.keyboard.type("Typed without a mouse.")
    page.keyboard.press("Shift+Tab")
    page.keyboard.type("kim.example.org")
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    page.keyboard.type("Kim")
    for _ in range(4):
        page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Post comment")).to_be_focused()
    page.keyboard.press("Enter")
    first = page.locator(".mod-c").first
    expect(first).to_be_focused()
    expect(first.locator(".mod-name")).to_have_text("Kim")

    # Tab on to the new comment's Reply button and open it with the space bar.
    for _ in range(5):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == "Reply":
            break
    page.keyboard.press("Space")
    expect(first.locator("form textarea")).to_be_focused()
    page.keyboard.type("A reply, also by keyboard.")
    page.keyboard.press("Tab")
    expect(first.get_by_role("button", name="Post reply")).to_be_focused()
    page.keyboard.press("Enter")
    reply = page.locator(".mod-replies .mod-c")
    expect(reply.locator(".mod-body")).to_have_text("A reply, also by keyboard.")
    expect(reply).to_be_focused()

    # Ctrl+Enter in the text posts too.
    page.locator("#comments > form textarea").focus()
    page.keyboard.type("Posted with Ctrl+Enter.")
    page.keyboard.press("Control+Enter")
    expect(page.locator(".mod-list > li > .mod-c")).to_have_count(2)


def test_honeypot_is_hidden_and_sent_as_honeypot(reader, unique_uri):
    page = reader.open(unique_uri)
    trap = page.locator("input[name=homepage]")
    assert trap.get_attribute("tabindex") == "-1"
    assert trap.get_attribute("autocomplete") == "off"
    assert page.evaluate("document.querySelector('.mod-hp').getAttribute('aria-hidden')") == "true"
    box = trap.bounding_box()
    assert box is None or box["x"] + box["width"] <= 0
    form = write(page, "Hi.")
    with page.expect_request("**/api/v1/comments") as info:
        form.get_by_role("button", name="Post comment").click()
    sent = info.value.post_data_json
    assert sent["honeypot"] == ""
    assert "homepage" not in sent
    assert info.value.headers["content-type"] == "application/json"
    assert {"site", "uri", "title", "author", "email", "website", "text"} <= set(sent)


def test_preview_is_the_servers_html(reader, unique_uri):
    """Issue 19: the preview is the server's rendering (POST /preview), no longer plain text."""
    page = reader.open(unique_uri)
    form = write(page, "Hello *world* <b>bold?</b>\n\nSecond paragraph")
    toggle = form.get_by_role("button", name="Preview")
    toggle.click()
    preview = form.locator(".mod-preview")
    expect(preview).to_be_visible()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(preview.locator("p")).to_have_text(["Hello world <b>bold?</b>", "Second paragraph"])
    expect(preview.locator("em")).to_have_text("world")
    expect(preview.locator("b")).to_have_count(0)
    form.get_by_label("Comment").fill("Changed")
    expect(preview.locator("p")).to_have_text(["Changed"])
    form.get_by_role("button", name="Hide preview").click()
    expect(preview).to_be_hidden()


@pytest.mark.parametrize(
    ("attrs", "lang", "button", "heading"),
    [
        ({"data-lang": "de"}, "en", "Kommentar senden", "Noch keine Kommentare"),
        ({}, "fr", "Publier le commentaire", "Aucun commentaire pour l’instant"),
        ({}, "", "Post comment", "No comments yet"),
    ],
)
def test_languages(reader, unique_uri, attrs, lang, button, heading):
    page = reader.open(unique_uri, attrs=attrs, lang=lang)
    expect(page.locator(".mod-title")).to_have_text(heading)
    expect(page.get_by_role("button", name=button)).to_be_visible()


def test_language_from_the_browser(new_reader, unique_uri):
    page = new_reader(locale="de-DE").open(unique_uri, lang="")
    expect(page.get_by_role("button", name="Kommentar senden")).to_be_visible()
    form = page.locator("#comments > form")
    form.get_by_role("button", name="Kommentar senden").click()
    expect(form.locator(".mod-f-text .mod-err")).to_have_text("Bitte füllen Sie dieses Feld aus.")


def test_feed_link_and_trackback_url(reader, live_server, unique_uri):
    page = reader.open(unique_uri)
    feed = page.get_by_role("link", name="Atom feed")
    expected = f"{live_server.url}/feeds/blog/thread.atom?uri={unique_uri.replace('/', '%2F')}"
    expect(feed).to_have_attribute("href", expected)
    assert page.request.get(expected).headers["content-type"].startswith("application/atom+xml")
    expect(page.locator(".mod-tb")).to_have_text(
        f"Trackback URL: {live_server.url}/trackback/blog{unique_uri}"
    )


def test_linkbacks_and_deep_replies(reader, live_server, unique_uri):
    live_server.add(
        unique_uri,
        "They cite us.",
        author="Other Blog",
        kind=CommentKind.pingback,
        website="https://other.example.net/post",
    )
    parent, ids = None, []
    for depth in range(7):
        parent = live_server.add(unique_uri, f"Depth {depth}", author=f"P{depth}", parent=parent)
        ids.append(parent)
    page = reader.open(unique_uri)
    expect(page.locator(".mod-badge")).to_have_text("Pingback")
    x = [comment(page, i).bounding_box()["x"] for i in ids]
    assert x[0] < x[1] < x[2] < x[3]
    assert x[3] == x[4] == x[5] == x[6]  # indentation is capped
    expect(comment(page, ids[5]).locator(".mod-to")).to_have_text("↪ in reply to P4")


def test_themes(reader, unique_uri):
    page = reader.open(unique_uri)

    def bg():
        return page.evaluate(
            "getComputedStyle(document.getElementById('comments')).backgroundColor"
        )

    def theme(value):
        page.evaluate("v => document.getElementById('comments').dataset.theme = v", value)

    light, dark = "rgba(0, 0, 0, 0)", "rgb(22, 27, 34)"
    page.emulate_media(color_scheme="light")
    assert bg() == light
    theme("dark")
    assert bg() == dark
    page.emulate_media(color_scheme="dark")
    theme("auto")
    assert bg() == dark
    theme("light")
    assert bg() == light
    page.evaluate(
        "document.getElementById('comments').style.setProperty('--mod-accent', '#c80064')"
    )
    button = page.get_by_role("button", name="Post comment")
    assert button.evaluate("b => getComputedStyle(b).backgroundColor") == "rgb(200, 0, 100)"
    assert page.locator("style#mod-style").count() == 1


def test_demo_page(reader, live_server):
    live_server.post("/demo/", "A comment on the demo page.")
    page = reader.page
    page.goto(live_server.url + "/demo/")
    reader.wait_ready()
    count = page.locator("header [data-comment-count]")
    expect(count).to_have_text(re.compile(r"^\d+$"))
    assert int(count.text_content()) >= 1
    expect(page.locator(".mod-c").first).to_be_visible()


def test_screenshots(new_reader, live_server, unique_uri, tmp_path):
    """docs/widget-{light,dark,phone}.png: written when MODERATION_SCREENSHOTS=1, else to tmp."""
    out = DOCS if os.environ.get("MODERATION_SCREENSHOTS") == "1" else tmp_path
    out.mkdir(exist_ok=True)
    uri, site = unique_uri, "held"
    maria = live_server.add(
        uri,
        site=site,
        author="Maria Schmidt",
        ago=timedelta(days=2, hours=3),
        website="https://maria.example.org",
        text=(
            "The clearest account of co-production I have read. The part about **shared ownership** "
            "matched what we saw at our library:\n\n> the people who use a service know things the "
            "people who run it do not\n\nWe ran a pilot last spring and I am happy to share notes."
        ),
    )
    tom = live_server.add(
        uri,
        site=site,
        author="Tom",
        parent=maria,
        ago=timedelta(days=1, hours=2),
        text="Thanks, Maria! Did you start with `shared budgets` or with advisory panels?",
    )
    live_server.add(
        uri,
        site=site,
        author="Maria Schmidt",
        parent=tom,
        ago=timedelta(hours=20),
        website="https://maria.example.org",
        text="Panels first, budgets from month three. The write-up is at "
        "https://maria.example.org/pilot",
    )
    gone = live_server.add(
        uri,
        site=site,
        author="x",
        ago=timedelta(hours=9),
        text="gone",
        status=CommentStatus.deleted,
    )
    live_server.add(
        uri,
        site=site,
        author="Priya",
        parent=gone,
        ago=timedelta(hours=8),
        text="Whatever was said above, I second the point about *time*: our first three "
        "meetings produced nothing but a list of grievances, which became the most "
        "useful document of the project.",
    )
    before = (
        "<article><header><h1>Co-production</h1><small>A post on the demo site · "
        f'<span data-comment-count data-uri="{uri}" data-site="{site}">…</span> comments'
        "</small></header><p>This page stands in for a blog post. Below it, the comment widget "
        "renders the thread, with replies, a deleted comment and the reader's own comment that "
        "waits for moderation.</p></article>"
    )
    reader = new_reader(color_scheme="light")
    page = reader.open(uri, site=site, before=before)
    form = write(
        page,
        "Co-production sounds great *in theory*. How did you keep the panels representative?",
        author="Sam",
        email="sam@example.org",
    )
    form.get_by_role("button", name="Post comment").click()
    expect(page.locator(".mod-held")).to_have_count(1)
    reader.reload()
    page.evaluate("document.activeElement.blur()")
    expect(page.locator(".mod-c")).to_have_count(6)
    page.screenshot(path=str(out / "widget-light.png"), full_page=True)
    page.emulate_media(color_scheme="dark")
    page.screenshot(path=str(out / "widget-dark.png"), full_page=True)
    phone = new_reader(
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        storage_state=reader.context.storage_state(),
    )
    page = phone.open(uri, site=site, before=before)
    expect(page.locator(".mod-held")).to_have_count(1)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling
    page.screenshot(path=str(out / "widget-phone.png"), full_page=True)
    for name in ("light", "dark", "phone"):
        assert (out / f"widget-{name}.png").stat().st_size > 10_000
