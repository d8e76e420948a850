"""Pages of a thread (SQLite and PostgreSQL): top-level comments with all their replies, in each
order, without overlap or gap while comments are added, cursors that cannot be forged, and the
page that holds a linked comment."""

from __future__ import annotations

import pytest

from moderation.errors import InvalidInput
from moderation.services.threads import PageRequest, thread_page
from tests.factories import make_comment, make_thread


def ids(page):
    return [c["id"] for c in page["comments"]]


def all_pages(session, ctx, request):
    seen, after = [], None
    while True:
        page = thread_page(
            session, ctx, "blog", "/post/", PageRequest(request.sort, request.limit, after)
        )
        seen += ids(page)
        after = page["next"]
        if after is None:
            return seen


@pytest.fixture
def roots(session):
    thread = make_thread(session)
    made = []
    for n in range(7):
        root = make_comment(session, thread, text=f"root {n}", likes=(n * 3) % 5)
        make_comment(session, thread, text=f"reply to {n}", parent_id=root.id)
        made.append(root)
    return thread, made


def test_pages_in_each_order_cover_every_root_once(session, ctx, roots):
    _thread, made = roots
    oldest = [r.id for r in made]
    assert all_pages(session, ctx, PageRequest("oldest", 3)) == oldest
    assert all_pages(session, ctx, PageRequest("newest", 3)) == oldest[::-1]
    top = sorted(made, key=lambda r: (-r.likes, r.id))
    assert all_pages(session, ctx, PageRequest("top", 2)) == [r.id for r in top]
    first = thread_page(session, ctx, "blog", "/post/", PageRequest("oldest", 3))
    assert first["thread"]["count"] == 14  # the whole thread's
    assert all(len(c["replies"]) == 1 for c in first["comments"])
    assert first["comments"][0]["likes"] == 0


def test_no_overlap_or_gap_while_comments_are_added(session, ctx, roots):
    thread, made = roots
    first = thread_page(session, ctx, "blog", "/post/", PageRequest("oldest", 3))
    newest_first = thread_page(session, ctx, "blog", "/post/", PageRequest("newest", 3))
    late = [make_comment(session, thread, text=f"late {n}") for n in range(2)]
    rest = []
    after = first["next"]
    while after:
        page = thread_page(session, ctx, "blog", "/post/", PageRequest("oldest", 3, after))
        rest += ids(page)
        after = page["next"]
    assert ids(first) + rest == [r.id for r in made] + [c.id for c in late]
    page = thread_page(
        session, ctx, "blog", "/post/", PageRequest("newest", 3, newest_first["next"])
    )
    assert ids(page) == [r.id for r in made][::-1][3:6]  # the late ones are above, not repeated


def test_cursors_cannot_be_forged_or_reused_across_orders(session, ctx, roots):
    first = thread_page(session, ctx, "blog", "/post/", PageRequest("oldest", 3))
    for bad in ("garbage", first["next"][:-2] + "xx", "W1swLDEsMF0"):
        with pytest.raises(InvalidInput):
            thread_page(session, ctx, "blog", "/post/", PageRequest("oldest", 3, bad))
    with pytest.raises(InvalidInput):
        thread_page(session, ctx, "blog", "/post/", PageRequest("newest", 3, first["next"]))


def test_the_page_holding_a_linked_reply_is_returned_with_those_before_it(session, ctx, roots):
    thread, made = roots
    deep = make_comment(session, thread, text="deep", parent_id=made[5].id)
    page = thread_page(session, ctx, "blog", "/post/", PageRequest("oldest", 2, around=deep.id))
    assert ids(page) == [r.id for r in made[:6]]
    assert page["next"] is not None
    first = thread_page(session, ctx, "blog", "/post/", PageRequest("oldest", 2, around=made[0].id))
    assert ids(first) == [r.id for r in made[:2]]


@pytest.mark.parametrize("settings", [{"sites.blog.page_size": 4}], indirect=True)
def test_the_site_page_size_is_the_default(session, ctx, roots):
    page = thread_page(session, ctx, "blog", "/post/", PageRequest())
    assert len(page["comments"]) == 4
