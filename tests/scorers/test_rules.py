"""The local rule scorer: WordPress's moderation rules (PROTOCOLS.md §6), the rule text helpers and
the rule order; the weighted spam heuristics are in test_rules_weighted.py."""

from __future__ import annotations

import subprocess
import sys

import pytest

from moderation.domain.scoring import Verdict
from moderation.domain.states import CommentKind
from moderation.errors import InvalidInput
from moderation.scorers.rules import (
    RULES,
    RuleLists,
    RuleScorer,
    RuleSettings,
    decisive,
    split_keys,
    weighted,
)
from moderation.scorers.rules.text import find_links, strip_html, url_host, website_host
from tests.scorers.rule_helpers import make, signals, verdict

# -- the baseline -------------------------------------------------------------------------------------


def test_plain_comment_has_no_signals():
    assert RuleScorer().score(make()) == []
    assert verdict(make()) is Verdict.ham


def test_scorer_name_and_signal_names_are_namespaced():
    scorer = RuleScorer()
    sub = make("CHECK OUT MY CHANNEL!!!!!!!!!! call +1 555 010 9999", website="http://x.example")
    assert scorer.name == "rules"
    assert all(s.name.startswith("rules.") for s in scorer.score(sub))


def test_no_single_heuristic_weight_reaches_the_hold_threshold():
    weights = [
        value
        for name, value in {**vars(decisive), **vars(weighted)}.items()
        if name.endswith("_POINTS")
        and name not in {"HOLD_POINTS", "SPAM_POINTS", "MAX_LINK_POINTS"}
    ]
    assert len(weights) >= 15
    assert all(w < 1.0 for w in weights)


def test_module_imports_no_framework_database_or_network_code():
    code = (
        "import sys, moderation.scorers.rules;"
        "bad = [m for m in ('flask', 'sqlalchemy', 'akismet', 'httpx', 'werkzeug') if m in sys.modules];"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


# -- honeypot -----------------------------------------------------------------------------------------


def test_honeypot_filled_discards():
    sig = signals(make(honeypot="http://spam.example"))["rules.honeypot"]
    assert sig.verdict is Verdict.discard
    assert verdict(make(honeypot="x")) is Verdict.discard


def test_honeypot_empty_or_blank_does_not_fire():
    assert "rules.honeypot" not in signals(make(honeypot=""))
    assert "rules.honeypot" not in signals(make(honeypot="  "))


# -- disallowed keys ----------------------------------------------------------------------------------


def test_disallowed_key_in_text_is_spam_case_insensitively():
    lists = RuleLists(disallowed_keys=("viagra",))
    sig = signals(make("Cheap ViAgRa here"), lists=lists)["rules.disallowed"]
    assert sig.verdict is Verdict.spam
    assert sig.reason == 'disallowed key "viagra" in the text'


@pytest.mark.parametrize(
    ("field", "value", "label"),
    [
        ("author", "Viagra Shop", "name"),
        ("email", "sales@viagra.example", "e-mail"),
        ("website", "https://viagra.example", "website"),
        ("user_agent", "ViagraBot/1.0", "user agent"),
    ],
)
def test_disallowed_key_matches_every_field_and_names_it(field, value, label):
    lists = RuleLists(disallowed_keys=("viagra",))
    sig = signals(make(**{field: value}), lists=lists)["rules.disallowed"]
    assert sig.reason == f'disallowed key "viagra" in the {label}'


def test_disallowed_ip_prefix_matches_ip_as_substring_spam():
    # §6.5: a disallowed key 198.51.100. matches IP 198.51.100.7.
    lists = RuleLists(disallowed_keys=("198.51.100.",))
    sub = make(ip="198.51.100.7")
    assert signals(sub, lists=lists)["rules.disallowed"].reason.endswith("in the IP")
    assert verdict(sub, lists=lists) is Verdict.spam


def test_disallowed_key_hidden_in_html_matches_stripped_copy():
    # §6.5: the raw text has no "viagra"; the copy with HTML stripped does.
    lists = RuleLists(disallowed_keys=("viagra",))
    sub = make("Buy vi<b></b>ag<span class='x'>ra</span> now")
    assert "viagra" not in sub.text.casefold()
    sig = signals(sub, lists=lists)["rules.disallowed"]
    assert sig.reason == 'disallowed key "viagra" in the text without HTML'
    assert verdict(sub, lists=lists) is Verdict.spam


def test_disallowed_key_hidden_by_entities_matches_stripped_copy():
    lists = RuleLists(disallowed_keys=("viagra",))
    assert "rules.disallowed" in signals(make("vi&#97;gra"), lists=lists)


def test_disallowed_no_match_does_not_fire():
    lists = RuleLists(disallowed_keys=("viagra",))
    assert "rules.disallowed" not in signals(make(), lists=lists)


def test_blank_keys_are_dropped_so_they_never_match_everything():
    lists = RuleLists(disallowed_keys=("", "  "), moderation_keys=("\n",))
    assert lists.disallowed_keys == ()
    assert lists.moderation_keys == ()
    assert signals(make(), lists=lists) == {}


def test_keys_given_as_text_are_one_per_line():
    assert split_keys(" casino \n\n viagra\r\n") == ("casino", "viagra")
    assert RuleLists(moderation_keys="casino\nviagra").moderation_keys == ("casino", "viagra")  # type: ignore[arg-type]


# -- blocked IPs, e-mails, domains --------------------------------------------------------------------


def test_blocked_exact_ip_is_spam():
    lists = RuleLists(blocked_ips=("203.0.113.9",))
    sig = signals(make(ip="203.0.113.9"), lists=lists)["rules.blocked_ip"]
    assert sig.verdict is Verdict.spam
    assert sig.reason == "IP 203.0.113.9 is blocked (203.0.113.9)"


def test_blocked_network_contains_ip():
    lists = RuleLists(blocked_ips=("203.0.113.0/24", "2001:db8::/32"))
    assert "rules.blocked_ip" in signals(make(ip="203.0.113.200"), lists=lists)
    assert "rules.blocked_ip" in signals(make(ip="2001:db8::1"), lists=lists)
    assert "rules.blocked_ip" in signals(make(ip="::ffff:203.0.113.5"), lists=lists)


def test_blocked_ip_other_or_malformed_ip_does_not_fire():
    lists = RuleLists(blocked_ips=("203.0.113.0/24",))
    assert "rules.blocked_ip" not in signals(make(ip="203.0.114.1"), lists=lists)
    assert "rules.blocked_ip" not in signals(make(ip="not an ip"), lists=lists)
    assert "rules.blocked_ip" not in signals(make(ip=""), lists=lists)


def test_blocked_ip_bad_entry_raises_invalid_input():
    with pytest.raises(InvalidInput) as info:
        RuleLists(blocked_ips=("203.0.113.0/99",))
    assert "blocked_ips" in info.value.fields


def test_blocked_email_matches_exactly_ignoring_case():
    lists = RuleLists(blocked_emails=("Spammer@Mail.Example",))
    sig = signals(make(email="spammer@mail.example"), lists=lists)["rules.blocked_email"]
    assert sig.verdict is Verdict.spam
    assert "rules.blocked_email" not in signals(make(email="xspammer@mail.example"), lists=lists)


@pytest.mark.parametrize(
    ("fields", "label"),
    [
        ({"email": "bob@spam.example"}, "e-mail domain"),
        ({"website": "https://shop.SPAM.example/deals"}, "website"),
        ({"website": "shop.spam.example"}, "website"),
        ({"text": 'see <a href="http://www.spam.example/x">here</a>'}, "linked site"),
        ({"text": "[deals](https://spam.example)"}, "linked site"),
        ({"text": "go to deals.spam.example today"}, "mentioned domain"),
    ],
)
def test_blocked_domain_matches_email_website_links_and_subdomains(fields, label):
    lists = RuleLists(blocked_domains=("spam.example",))
    sig = signals(make(**fields), lists=lists)["rules.blocked_domain"]
    assert sig.verdict is Verdict.spam
    assert sig.reason.startswith(label)
    assert sig.reason.endswith("(spam.example)")


def test_blocked_domain_does_not_match_a_lookalike_suffix():
    lists = RuleLists(blocked_domains=("spam.example",))
    sub = make(email="bob@notspam.example", website="https://notspam.example")
    assert "rules.blocked_domain" not in signals(sub, lists=lists)


def test_blocked_domain_entries_are_normalised_and_validated():
    assert RuleLists(blocked_domains=("*.Spam.Example.", "@mail.example")).blocked_domains == (
        "spam.example",
        "mail.example",
    )
    with pytest.raises(InvalidInput):
        RuleLists(blocked_domains=("http://spam.example/",))


# -- links (WordPress comment_max_links) --------------------------------------------------------------


def test_links_two_with_max_two_holds():
    # §6.5: 2 links with max_links=2 wait for a moderator.
    sub = make('See <a href="https://a.example">a</a> and https://b.example/page.')
    sig = signals(sub)["rules.links"]
    assert sig.verdict is Verdict.unsure
    assert sig.reason == "2 links (2 or more are held)"
    assert verdict(sub) is Verdict.unsure


def test_links_one_link_does_not_hold():
    # §6.5: 1 link is approved when nothing else holds it.
    sub = make("The docs are at https://docs.example/install.")
    assert "rules.links" not in signals(sub)
    assert verdict(sub) is Verdict.ham


def test_links_website_counts_as_one():
    sub = make("See https://docs.example/install.", website="https://ann.example")
    sig = signals(sub)["rules.links"]
    assert sig.reason == "2 links counting the website (2 or more are held)"


def test_links_website_not_counted_when_disabled_or_for_linkbacks():
    text = "See https://docs.example/install."
    settings = RuleSettings(count_website_as_link=False)
    assert "rules.links" not in signals(make(text, website="https://a.example"), settings)
    pingback = make(text, kind=CommentKind.pingback, website="https://a.example")
    assert "rules.links" not in signals(pingback)


def test_links_max_zero_disables():
    sub = make(" ".join(f"https://s{i}.example" for i in range(10)))
    assert "rules.links" not in signals(sub, RuleSettings(max_links=0))


def test_links_points_grow_with_count_up_to_a_cap():
    three = make("https://a.example https://b.example https://c.example")
    assert signals(three)["rules.links"].score == 1.5
    many = make(" ".join(f"https://s{i}.example" for i in range(20)))
    assert signals(many)["rules.links"].score == decisive.MAX_LINK_POINTS


def test_find_links_counts_anchor_markdown_and_bare_urls_once_each():
    text = (
        '<a href="http://a.example">http://a.example</a> '
        "[b](https://b.example/x) ![img](https://i.example/p.png) "
        "bare https://c.example/y, and www.d.example."
    )
    assert find_links(text) == [
        "http://a.example",
        "https://b.example/x",
        "https://i.example/p.png",
        "https://c.example/y",
        "www.d.example",
    ]


def test_find_links_ignores_text_without_links():
    assert find_links("no links here, just a.b and [brackets] (parens)") == []


# -- moderation keys (WordPress moderation_keys) ------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "label"),
    [
        ({"text": "Best CaSiNo bonuses"}, "text"),
        ({"website": "https://megacasinos.example"}, "website"),
        ({"user_agent": "casino-crawler/2.0"}, "user agent"),
        ({"author": "Casino King"}, "name"),
        ({"email": "vip@casino.example"}, "e-mail"),
        ({"ip": "192.0.2.10"}, None),
    ],
)
def test_moderation_key_holds_wherever_it_matches(fields, label):
    # §6.5: "casino" matches CaSiNo, megacasinos.example in the URL and casino in the UA.
    lists = RuleLists(moderation_keys=("casino", "192.0.2."))
    sig = signals(make(**fields), lists=lists)["rules.moderation"]
    assert sig.verdict is Verdict.unsure
    if label is not None:
        assert sig.reason == f'moderation key "casino" in the {label}'
    assert verdict(make(**fields), lists=lists) is Verdict.unsure


def test_moderation_key_no_match_does_not_fire():
    lists = RuleLists(moderation_keys=("casino",))
    assert "rules.moderation" not in signals(make(), lists=lists)


def test_moderation_key_does_not_look_inside_html_stripped_copy():
    # WordPress's check_comment matches the raw text only; the stripped copy is for disallowed keys.
    lists = RuleLists(moderation_keys=("casino",))
    assert "rules.moderation" not in signals(make("cas<b></b>ino"), lists=lists)


# -- helpers ------------------------------------------------------------------------------------------


def test_strip_html_removes_tags_scripts_and_decodes_entities():
    assert strip_html("<p>a<script>evil()</script> &amp; b</p>") == "a & b"
    assert strip_html("I <3 you > them") == "I <3 you > them"


def test_website_host_accepts_a_missing_scheme():
    assert website_host("Ann.Example/blog") == "ann.example"
    assert website_host("https://ann.example") == "ann.example"
    assert website_host("  ") is None


def test_url_host_normalises():
    assert url_host("HTTPS://Blog.Example:8080/x") == "blog.example"
    assert url_host("www.Example.com/path") == "www.example.com"
    assert url_host("/relative/path") is None
    assert url_host("http://[::1") is None


def test_settings_reject_negative_limits():
    with pytest.raises(InvalidInput):
        RuleSettings(max_links=-1)
    with pytest.raises(InvalidInput):
        RuleSettings(caps_ratio=0)


def test_tb_d2_trackback_sent_from_an_address_its_source_lacks_is_only_nudged():
    ping = make(
        "A reply",
        kind=CommentKind.trackback,
        ip="198.51.100.20",
        source="http://blog.test/p",
        extra={"source_addresses": "203.0.113.7,2001:db8::1"},
    )
    signal = signals(ping)["rules.ping_origin"]
    assert signal.score == weighted.PING_ORIGIN_POINTS < 1  # a nudge, never "unsure" alone
    assert "198.51.100.20" in signal.reason
    assert "blog.test" in signal.reason
    assert verdict(ping) is Verdict.ham
    from_its_host = make(
        "A reply",
        kind=CommentKind.trackback,
        ip="2001:db8::1",
        source="http://blog.test/p",
        extra=ping.extra,
    )
    assert "rules.ping_origin" not in signals(from_its_host)
    not_looked_up = make("A reply", kind=CommentKind.trackback, ip="198.51.100.20")
    assert "rules.ping_origin" not in signals(not_looked_up)
    pingback = make("A reply", kind=CommentKind.pingback, ip="198.51.100.20", extra=ping.extra)
    assert "rules.ping_origin" not in signals(pingback)


def test_rules_run_in_order_decisive_first():
    names = [rule.__name__ for rule in RULES]
    assert names[:7] == [
        "check_honeypot",
        "check_disallowed",
        "check_blocked_ip",
        "check_blocked_email",
        "check_blocked_domain",
        "check_links",
        "check_moderation",
    ]
    assert names[-1] == "check_trusted"
