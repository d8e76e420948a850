"""The dashboard's Spam filter page: each site's classifier cut-offs against the shipped ones, the
decisions they rest on, and the approvals that hold the spam cut-off up, with a Spam button that
takes a mistaken approval back (through the real scorers, learning and calibration)."""

from __future__ import annotations

import re

import pytest

from moderation.domain.states import Action, CommentStatus
from moderation.models import ClassifierCutoff
from moderation.runtime.jobs import Jobs
from moderation.services import accounts, build_context
from moderation.services import spam as spam_service
from moderation.services.moderation import apply_action
from moderation.services.spam_filter import prob
from moderation.web.dashboard import percent
from tests.conftest import make_settings
from tests.services.test_spam import HAM_TEXT, MODERATOR, SPAM_TEXT, submit
from tests.web.dashboard_helpers import status_of, text

pytestmark = pytest.mark.usefixtures("fast_hashes")  # cheap argon2 hashes (conftest.py)


@pytest.fixture
def settings(tmp_path):
    return make_settings(tmp_path, **{"sites.blog.moderation": "all"})


@pytest.fixture
def ctx(settings, clock, database):
    """The production context: rules, the shared classifier, learning and calibration."""
    return Jobs(settings, database, build_context(settings, clock=clock)).ctx


def section(page: str, site: str) -> str:
    found = re.search(rf'<section class="panel" id="site-{site}".*?</section>', page, re.S)
    assert found, f"no section for {site}"
    return found.group(0)


def cut(html: str, name: str) -> str:
    """The site's value of one cut-off row ("Spam" or "Held for review")."""
    row = re.search(rf'<td data-label="Cut-off">{name}</td>\s*<td[^>]*>(.*?)</td>', html, re.S)
    assert row, name
    return re.sub(r"<[^>]+>", "", row.group(1)).strip()


def test_before_any_decision_each_site_shows_the_shipped_cut_offs(as_moderator):
    page = text(as_moderator.get("/moderate/spam-filter"))
    shipped = spam_service.base_model().cutoffs
    assert 'href="/moderate/spam-filter"' in page  # in the navigation
    for site in ("blog", "other"):
        html = section(page, site)
        assert cut(html, "Spam") == prob(shipped.spam)
        assert cut(html, "Held for review") == prob(shipped.unsure)
        assert "no decision on this site yet" in html
        assert "<strong>0 approved</strong>" in html
        assert "<strong>0 spam</strong>" in html
        assert "None: no approved comment" in html
        assert "would send" not in html
    lead = " ".join(page.split())
    assert f"sent at most {percent(0.005)} of the site's recently approved comments" in lead


def test_a_mistaken_approval_is_listed_and_marking_it_spam_brings_the_cut_off_back(
    as_moderator, session, database, ctx, clock
):
    shipped = spam_service.base_model().cutoffs
    reader = submit(session, database, ctx, clock, text=HAM_TEXT)
    apply_action(session, ctx, reader, Action.approve, MODERATOR)
    mistake = submit(session, database, ctx, clock, text=SPAM_TEXT, author="Free Money")
    assert mistake.status is CommentStatus.spam
    apply_action(session, ctx, mistake, Action.ham, MODERATOR)  # "not spam": the mistake
    session.flush()
    raised = spam_service.site_cutoffs(session, "blog")
    assert raised.spam > shipped.spam  # the approval lifted the site's spam cut-off

    html = section(text(as_moderator.get("/moderate/spam-filter")), "blog")
    assert cut(html, "Spam") == prob(raised.spam)
    assert "<strong>Raised:</strong> 1 approved comment in the reserve" in html
    assert "<strong>2 approved</strong>" in html  # both approvals are in the reserve
    assert "would send 0 of those approved comments to spam (0.5 % allows 0)" in " ".join(
        html.split()
    )
    listed = re.findall(r'<a href="/moderate/comments/(\d+)">', html)
    assert listed == [str(mistake.id)]  # the reader scored low: not listed
    assert "CHECK OUT MY CHANNEL" in html
    assert '<td class="small nowrap" data-label="Now">approved</td>' in html
    assert f'aria-label="Mark comment {mistake.id} as spam"' in html
    other = section(text(as_moderator.get("/moderate/spam-filter")), "other")
    assert "no decision on this site yet" in other  # one site's decisions stay its own

    response = as_moderator.post(
        f"/moderate/comments/{mistake.id}/spam",
        {"next": "/moderate/spam-filter#site-blog"},
    )
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/moderate/spam-filter#site-blog")
    assert status_of(session, mistake) is CommentStatus.spam
    session.expire_all()
    row = session.get(ClassifierCutoff, "blog")
    assert (row.ham_decisions, row.spam_decisions) == (1, 1)
    assert row.spam <= shipped.spam  # the reader alone cannot hold it up

    page = text(as_moderator.get("/moderate/spam-filter"))
    assert "1 comment marked as spam." in page
    html = section(page, "blog")
    assert cut(html, "Spam") == prob(row.spam)
    assert "None: no approved comment" in html
    assert "<strong>1 approved</strong>" in html
    assert "<strong>1 spam</strong>" in html


def test_a_moderator_sees_only_the_sites_they_moderate(dash, moderator, session, settings):
    accounts.set_sites(session, moderator.id, ["other"], settings.sites)
    session.flush()
    assert dash.login(moderator.email).status_code == 303
    page = text(dash.get("/moderate/spam-filter"))
    assert 'id="site-other"' in page
    assert 'id="site-blog"' not in page


def test_prob_never_rounds_up_and_says_when_the_cut_off_is_above_one():
    assert prob(0.99996) == "0.9999"
    assert prob(0.5) == "0.5000"
    assert prob(1.0) == "1.0000"
    assert prob(1.0000000000000002) == "above 1"
    assert percent(0.005) == "0.5 %"


def test_plain_readers_lower_the_cut_off_and_a_purged_approval_has_no_button(
    as_moderator, session, ctx
):
    for _ in range(200):  # enough approved decisions to measure 0.5 %
        spam_service.record_decision(session, ctx, "blog", None, False, 0.1, calibrate_now=False)
    lowered = spam_service.record_decision(session, ctx, "blog", None, False, 0.95)
    session.flush()
    assert lowered.spam < spam_service.base_model().cutoffs.spam

    html = section(text(as_moderator.get("/moderate/spam-filter")), "blog")
    flat = " ".join(html.split())
    assert cut(html, "Spam") == prob(lowered.spam)
    assert "Lowered: the site's approved comments score low" in flat
    assert "<strong>201 approved</strong>" in flat
    assert "would send 1 of those approved comments to spam (0.5 % allows 1)" in flat
    assert "It can fall below the shipped one" not in flat
    assert '<span class="muted">a purged comment</span>' in html
    assert "<button" not in html.split('<table class="table holding">')[1]  # nothing to mark


def test_a_deleted_approval_says_how_to_mark_it_spam(as_moderator, session, database, ctx, clock):
    mistake = submit(session, database, ctx, clock, text=SPAM_TEXT, author="Free Money")
    apply_action(session, ctx, mistake, Action.ham, MODERATOR)
    apply_action(session, ctx, mistake, Action.delete, MODERATOR)  # deleting teaches nothing
    session.flush()
    html = section(text(as_moderator.get("/moderate/spam-filter")), "blog")
    assert '<td class="small nowrap" data-label="Now">deleted</td>' in html
    assert f'href="/moderate/comments/{mistake.id}">Restore it, then mark it spam</a>' in html
    assert f"Mark comment {mistake.id} as spam" not in html  # deleted: spam does not apply


RAISED = "the filter was sure an approved comment was spam"


def test_an_approval_that_raises_the_cut_off_says_so_beside_its_undo(
    as_moderator, session, database, ctx, clock
):
    shipped = spam_service.base_model().cutoffs
    reader = submit(session, database, ctx, clock, text=HAM_TEXT)
    page = text(as_moderator.post(f"/moderate/comments/{reader.id}/approve", follow=True))
    assert "1 comment approved." in page
    assert RAISED not in page  # a reader the filter thought fine: nothing to say

    mistake = submit(session, database, ctx, clock, text=SPAM_TEXT, author="Free Money")
    page = text(as_moderator.post(f"/moderate/comments/{mistake.id}/ham", follow=True))
    flat = " ".join(page.split())
    now = spam_service.site_cutoffs(session, "blog").spam
    assert now > shipped.spam
    assert "1 comment marked as not spam and approved." in flat
    assert (
        f"The spam cut-off of blog rose from {prob(shipped.spam)} to {prob(now)}: {RAISED}" in flat
    )
    assert 'id="undo-form"' in page

    page = text(as_moderator.post("/moderate/undo", follow=True))
    assert RAISED not in page  # undoing lowers it again
    assert spam_service.site_cutoffs(session, "blog").spam == shipped.spam


def test_a_bulk_approval_that_raises_the_cut_off_says_so(
    as_moderator, session, database, ctx, clock
):
    spam = [
        submit(session, database, ctx, clock, text=f"{SPAM_TEXT} {i}", author=f"Money {i}")
        for i in range(2)
    ]
    response = as_moderator.post(
        "/moderate/bulk", {"action": "ham", "ids": [str(c.id) for c in spam]}, follow=True
    )
    flat = " ".join(text(response).split())
    assert "2 comments marked as not spam and approved." in flat
    assert flat.count("The spam cut-off of blog rose") == 1  # one warning per site
