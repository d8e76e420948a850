"""AkismetScorer against a fake Akismet over real HTTP, plus the package's own test client."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import akismet
import httpx
import pytest

from moderation.config import AkismetSettings, ConfigError
from moderation.domain.scoring import Signal, Submission, Verdict, run_pipeline
from moderation.domain.states import CommentKind
from moderation.errors import ScorerUnavailable
from moderation.runtime import metrics
from moderation.scorers.akismet import (
    AkismetScorer,
    build_akismet_client,
    rewrite_url,
    verify_key,
)
from tests.fakes.akismet_server import FAKE_KEY, FakeAkismet

BLOG = "https://blog.example.org/"
PERMALINK = "https://blog.example.org/2024/05/hello/"
AK = "https://rest.akismet.com/"


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fake() -> Iterator[FakeAkismet]:
    with FakeAkismet(hang_seconds=3.0) as server:
        yield server


def make_scorer(endpoint: str, key: str = FAKE_KEY, timeout: float = 0.5, **options):
    settings = AkismetSettings(key=key, endpoint=endpoint, timeout=timeout)
    return AkismetScorer.from_settings(settings, **options)


@pytest.fixture
def scorer(fake: FakeAkismet) -> Iterator[AkismetScorer]:
    s = make_scorer(fake.url)
    yield s
    s.close()


def submission(**overrides) -> Submission:
    values = {
        "kind": CommentKind.comment,
        "site": "blog",
        "site_url": BLOG,
        "permalink": PERMALINK,
        "text": "Nice post, thanks!",
        "author": "Ada",
        "email": "ada@example.org",
        "website": "https://ada.example.org/",
        "ip": "203.0.113.5",
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
        "referrer": PERMALINK,
        "created": datetime(2024, 5, 1, 12, 30, 0, tzinfo=UTC),
        "language": "en",
    }
    return Submission(**{**values, **overrides})


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# Verdicts


def test_comment_check_ham_gives_negative_signal(scorer):
    assert scorer.score(submission()) == [Signal("akismet", -1.0, "Akismet: ham")]


def test_comment_check_spam_content_gives_spam_signal(scorer):
    signals = scorer.score(submission(text="buy viagra-test-123 now"))
    assert signals == [Signal("akismet", 5.0, "Akismet: spam", Verdict.spam)]


def test_comment_check_guaranteed_spam_author_gives_spam_signal(scorer):
    [signal] = scorer.score(submission(author="akismet-guaranteed-spam"))
    assert signal.verdict is Verdict.spam


def test_comment_check_discard_gives_discard_with_pro_tip(scorer, fake):
    fake.mode = "discard"
    [signal] = scorer.score(submission(author="viagra-test-123"))
    assert signal.verdict is Verdict.discard
    assert signal.score == 5.0
    assert "X-akismet-pro-tip: discard" in signal.reason


def test_comment_check_discard_in_pipeline_is_discard_verdict(scorer, fake):
    fake.mode = "discard"
    assessment = run_pipeline(submission(text="viagra-test-123"), [scorer])
    assert assessment.verdict is Verdict.discard


# What is sent


def test_comment_check_sends_every_parameter(scorer, fake):
    scorer.score(submission(honeypot="gotcha"))
    [request] = fake.requests_to("comment-check")
    assert request.form == {
        "api_key": FAKE_KEY,
        "blog": BLOG,
        "user_ip": "203.0.113.5",
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
        "referrer": PERMALINK,
        "permalink": PERMALINK,
        "comment_type": "comment",
        "comment_author": "Ada",
        "comment_author_email": "ada@example.org",
        "comment_author_url": "https://ada.example.org/",
        "comment_content": "Nice post, thanks!",
        "comment_date_gmt": "2024-05-01T12:30:00+00:00",
        "blog_lang": "en",
        "blog_charset": "UTF-8",
        "honeypot_field_name": "honeypot",
        "honeypot": "gotcha",
    }


def test_comment_check_sends_our_user_agent_and_real_host(scorer, fake):
    scorer.score(submission())
    [request] = fake.requests
    assert request.headers["user-agent"].startswith("moderation/")
    assert "akismet.py/" in request.headers["user-agent"]
    assert request.headers["host"] == f"127.0.0.1:{fake.port}"


@pytest.mark.parametrize("kind", list(CommentKind))
def test_comment_check_comment_type_follows_kind(scorer, fake, kind):
    scorer.score(submission(kind=kind, website="", source="https://other.example.net/post"))
    form = fake.requests_to("comment-check")[0].form
    assert form["comment_type"] == kind.value
    assert form["comment_author_url"] == "https://other.example.net/post"
    assert ("honeypot_field_name" in form) is (kind is CommentKind.comment)


def test_comment_check_concurrent_calls_keep_their_own_extra_fields(fake):
    scorer = make_scorer(
        fake.url, timeout=5.0
    )  # a loaded CI machine must not turn this into a timeout

    def check(n: int) -> list[Signal]:
        return scorer.score(submission(text=f"comment {n}", honeypot=f"value {n}"))

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(check, range(16)))
    scorer.close()
    forms = [r.form for r in fake.requests_to("comment-check")]
    assert len(forms) == 16
    assert all(f["honeypot"] == f["comment_content"].replace("comment", "value") for f in forms)


def test_akismet_module_does_not_import_the_web_stack():
    code = (
        "import sys, moderation.scorers.akismet; "
        "print(sorted(m for m in ('flask', 'sqlalchemy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_comment_check_naive_date_is_treated_as_utc(scorer):
    params = scorer.params_for(submission(created=datetime(2024, 1, 2, 3, 4, 5)))
    assert params["comment_date_gmt"] == "2024-01-02T03:04:05+00:00"


def test_comment_check_recheck_reason_and_is_test_are_sent(fake):
    scorer = make_scorer(fake.url, is_test=True)
    try:
        scorer.check(scorer.params_for(submission(), recheck_reason="recheck_queue"))
    finally:
        scorer.close()
    form = fake.requests[0].form
    assert (form["recheck_reason"], form["is_test"]) == ("recheck_queue", "1")


def test_params_for_leaves_out_empty_values_and_the_key(scorer):
    bare = submission(author="", email="", website="", referrer="", created=None)
    params = scorer.params_for(bare)
    left_out = {"comment_author", "comment_author_email", "comment_date_gmt", "api_key"}
    assert not left_out & set(params)
    assert params["user_ip"] == "203.0.113.5"


def test_scorer_honeypot_named_like_an_akismet_parameter_is_refused(fake):
    with pytest.raises(ValueError, match="Akismet parameter"):
        make_scorer(fake.url, honeypot_field_name="comment_author")


# Failures become ScorerUnavailable


def test_comment_check_server_error_is_unavailable(scorer, fake):
    fake.mode = "error500"
    with pytest.raises(ScorerUnavailable, match="500"):
        scorer.score(submission())


def test_comment_check_nonsense_answer_is_unavailable(scorer, fake):
    fake.mode = "nonsense"
    with pytest.raises(ScorerUnavailable, match="maybe"):
        scorer.score(submission())


def test_comment_check_missing_ip_is_unavailable(scorer):
    with pytest.raises(ScorerUnavailable, match="user_ip"):
        scorer.score(submission(ip=""))


def test_comment_check_hanging_server_is_unavailable(scorer, fake):
    fake.mode = "hang"
    started = time.monotonic()
    with pytest.raises(ScorerUnavailable, match="timed out"):
        scorer.score(submission())
    assert time.monotonic() - started < 1.5


def test_comment_check_huge_answer_is_unavailable(scorer, fake):
    fake.mode = "huge"
    with pytest.raises(ScorerUnavailable, match="ResponseTooLarge"):
        scorer.score(submission())


def test_comment_check_connection_refused_is_unavailable():
    scorer = make_scorer(f"http://127.0.0.1:{closed_port()}/1.1/")
    try:
        with pytest.raises(ScorerUnavailable, match="ConnectError"):
            scorer.score(submission())
    finally:
        scorer.close()


@pytest.mark.parametrize(
    ("header", "value", "message"),
    [
        ("X-akismet-error", "Your key is suspended", "suspended"),
        ("X-akismet-recheck-after", "120", "re-check after 120"),
    ],
)
def test_comment_check_error_headers_are_unavailable(scorer, fake, header, value, message):
    fake.extra_headers = {header: value}
    with pytest.raises(ScorerUnavailable, match=message):
        scorer.score(submission())


@pytest.mark.parametrize(
    ("header", "value", "outcome"),
    [
        ("X-akismet-error", "Your key is suspended", "unavailable"),
        ("X-akismet-recheck-after", "120", "recheck"),
        (None, None, "ham"),
    ],
)
def test_the_call_metric_counts_what_the_answer_came_to(scorer, fake, header, value, outcome):
    """A "ham" with an error header is no answer: the metric says so, not "ham"."""
    fake.extra_headers = {header: value} if header else {}
    labels = {"method": "comment_check", "outcome": outcome}

    def count() -> float:
        return metrics.REGISTRY.get_sample_value("moderation_akismet_calls_total", labels) or 0.0

    before = count()
    with contextlib.suppress(ScorerUnavailable):
        scorer.score(submission())
    assert count() == before + 1


def test_comment_check_unavailable_in_pipeline_holds_for_review(scorer, fake):
    fake.mode = "error500"
    assessment = run_pipeline(submission(), [scorer])
    assert assessment.verdict is Verdict.unsure
    assert assessment.recheck_reason.startswith("akismet: ")


# Invalid key and the circuit breaker


@pytest.mark.expect_errors  # the invalid key is logged as an operator-facing error
def test_comment_check_invalid_key_opens_breaker_without_http(fake):
    clock = FakeClock()
    scorer = make_scorer(fake.url, key="wrong-key", clock=clock, breaker_seconds=600)
    try:
        with pytest.raises(ScorerUnavailable, match="invalid"):
            scorer.score(submission())
        with pytest.raises(ScorerUnavailable, match="not calling for another 600 s"):
            scorer.score(submission())
        with pytest.raises(ScorerUnavailable, match="not calling"):
            scorer.submit_spam(scorer.params_for(submission()))
        assert len(fake.requests) == 1
        clock.now += 601
        with pytest.raises(ScorerUnavailable, match="invalid"):
            scorer.score(submission())
        assert len(fake.requests) == 2
    finally:
        scorer.close()


@pytest.mark.expect_errors  # the invalid key is logged as an operator-facing error
def test_comment_check_revoked_key_opens_breaker(scorer, fake):
    fake.mode = "invalid"
    with pytest.raises(ScorerUnavailable, match="invalid"):
        scorer.score(submission())
    fake.mode = "normal"
    with pytest.raises(ScorerUnavailable, match="not calling"):
        scorer.score(submission())
    assert len(fake.requests) == 1


# Corrections


@pytest.mark.parametrize("operation", ["submit-spam", "submit-ham"])
def test_submit_sends_the_stored_params(scorer, fake, operation):
    stored = scorer.params_for(submission(honeypot=""))
    getattr(scorer, operation.replace("-", "_"))(stored)
    [request] = fake.requests_to(operation)
    assert request.form == {"api_key": FAKE_KEY, **stored}


def test_submit_nonsense_answer_is_unavailable(scorer, fake):
    fake.mode = "nonsense"
    with pytest.raises(ScorerUnavailable):
        scorer.submit_ham(scorer.params_for(submission()))


def test_submit_server_down_is_unavailable():
    scorer = make_scorer(f"http://127.0.0.1:{closed_port()}/1.1/")
    try:
        with pytest.raises(ScorerUnavailable):
            scorer.submit_spam(scorer.params_for(submission()))
    finally:
        scorer.close()


# Construction and key verification


def test_build_client_makes_no_request(fake):
    client = build_akismet_client(AkismetSettings(key=FAKE_KEY, endpoint=fake.url), BLOG)
    assert isinstance(client, akismet.SyncClient)
    assert fake.requests == []


def test_build_client_unreachable_endpoint_still_builds():
    settings = AkismetSettings(key="k", endpoint=f"http://127.0.0.1:{closed_port()}/1.1/")
    assert isinstance(build_akismet_client(settings, BLOG), akismet.SyncClient)


@pytest.mark.parametrize(
    ("endpoint", "blog"), [("rest.akismet.com/1.1/", BLOG), ("https://x/", "blog")]
)
def test_build_client_bad_urls_are_config_errors(endpoint, blog):
    with pytest.raises(ConfigError):
        build_akismet_client(AkismetSettings(key="k", endpoint=endpoint), blog)


@pytest.mark.parametrize(("key", "expected"), [(FAKE_KEY, True), ("wrong-key", False)])
def test_verify_key_answers_valid_or_invalid(fake, key, expected):
    client = build_akismet_client(AkismetSettings(key=key, endpoint=fake.url, timeout=0.5), BLOG)
    assert verify_key(client) is expected
    assert fake.requests[0].form == {"key": key, "blog": BLOG}


def test_verify_key_unreachable_is_none():
    settings = AkismetSettings(key="k", endpoint=f"http://127.0.0.1:{closed_port()}/1.1/")
    assert verify_key(build_akismet_client(settings, BLOG)) is None


@pytest.mark.parametrize(
    ("url", "endpoint", "expected"),
    [
        (f"{AK}1.1/comment-check", "http://h:1/1.1/", "http://h:1/1.1/comment-check"),
        (f"{AK}1.1/verify-key", "http://h/ak/1.1", "http://h/ak/1.1/verify-key"),
        (f"{AK}1.2/usage-limit?api_key=k", "http://h/1.1/", "http://h/1.2/usage-limit?api_key=k"),
    ],
)
def test_rewrite_url_keeps_path_and_query(url, endpoint, expected):
    assert str(rewrite_url(httpx.URL(url), endpoint)) == expected


def test_rewrite_url_other_version_without_versioned_endpoint_is_refused():
    with pytest.raises(ValueError, match="cannot map"):
        rewrite_url(httpx.URL("https://rest.akismet.com/1.2/usage-limit"), "http://h/akismet/")


# The package's own test client: the CheckResponse mapping without any socket


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (akismet.CheckResponse.HAM, None),
        (akismet.CheckResponse.SPAM, Verdict.spam),
        (akismet.CheckResponse.DISCARD, Verdict.discard),
    ],
)
def test_comment_check_test_client_maps_check_response(response, expected):
    client_class = type("Client", (akismet.TestSyncClient,), {"comment_check_response": response})
    scorer = AkismetScorer(lambda blog: client_class(config=akismet.Config(key="any", url=blog)))
    [signal] = scorer.score(submission())
    assert signal.verdict is expected
    assert signal.name == "akismet"
    assert scorer.submit_spam(scorer.params_for(submission())) is None


@pytest.mark.expect_errors  # the invalid key is logged as an operator-facing error
def test_comment_check_test_client_bad_key_is_unavailable():
    class Invalid(akismet.TestSyncClient):
        def comment_check(self, user_ip, **kwargs):
            raise akismet.APIKeyError("invalid")

    scorer = AkismetScorer(lambda blog: Invalid(config=akismet.Config(key="any", url=blog)))
    with pytest.raises(ScorerUnavailable, match="invalid"):
        scorer.score(submission())
