import pytest

from moderation.errors import TokenExpired, TokenInvalid
from moderation.services.tokens import AUTHOR_EDIT, MODERATE_LINK, Tokens


def test_tokens_round_trip_for_their_purpose():
    tokens = Tokens(("k" * 20,), {AUTHOR_EDIT: 60, MODERATE_LINK: 60})
    assert tokens.load(AUTHOR_EDIT, tokens.sign(AUTHOR_EDIT, {"id": 7})) == {"id": 7}


def test_tokens_purposes_do_not_cross():
    tokens = Tokens(("k" * 20,), {AUTHOR_EDIT: 60, MODERATE_LINK: 60})
    with pytest.raises(TokenInvalid):
        tokens.load(MODERATE_LINK, tokens.sign(AUTHOR_EDIT, {"id": 7}))


def test_tokens_tampered_or_garbage_is_invalid():
    tokens = Tokens(("k" * 20,), {AUTHOR_EDIT: 60})
    good = tokens.sign(AUTHOR_EDIT, {"id": 7})
    for bad in (good[:-2] + "xx", "garbage", "", "a.b.c", good.replace(".", "", 1)):
        with pytest.raises(TokenInvalid):
            tokens.load(AUTHOR_EDIT, bad)


def test_tokens_expire_after_max_age():
    tokens = Tokens(("k" * 20,), {AUTHOR_EDIT: -1})
    with pytest.raises(TokenExpired):
        tokens.load(AUTHOR_EDIT, tokens.sign(AUTHOR_EDIT, 1))


def test_tokens_rotation_old_key_still_verifies_new_key_signs():
    old = Tokens(("old-key-0123456789",), {AUTHOR_EDIT: 60})
    rotated = Tokens(("old-key-0123456789", "new-key-0123456789"), {AUTHOR_EDIT: 60})
    new_only = Tokens(("new-key-0123456789",), {AUTHOR_EDIT: 60})
    assert rotated.load(AUTHOR_EDIT, old.sign(AUTHOR_EDIT, 1)) == 1
    assert new_only.load(AUTHOR_EDIT, rotated.sign(AUTHOR_EDIT, 2)) == 2
    with pytest.raises(TokenInvalid):
        new_only.load(AUTHOR_EDIT, old.sign(AUTHOR_EDIT, 1))


def test_tokens_unknown_purpose_is_a_programming_error():
    with pytest.raises(ValueError, match="no token purpose"):
        Tokens(("k" * 20,), {}).sign("nope", 1)


def test_page_keys_are_one_per_page_and_keep_working_after_a_key_rotation():
    old = Tokens(("old-key" * 3,), {})
    rotated = Tokens(("old-key" * 3, "new-key" * 3), {})
    key = old.page_key("blog", "/post/")

    assert rotated.check_page_key("blog", "/post/", key)  # pasted before the rotation: still good
    assert rotated.page_key("blog", "/post/") != key  # the newest key signs
    assert rotated.check_page_key("blog", "/post/", rotated.page_key("blog", "/post/"))
    for site, uri in (("blog", "/other/"), ("other", "/post/"), ("blog", "/post")):
        assert not rotated.check_page_key(site, uri, key)


@pytest.mark.parametrize("bad", ["", "x", "garbage-signature", "é", "a" * 500])
def test_a_made_up_page_key_is_refused(bad):
    assert not Tokens(("k" * 20,), {}).check_page_key("blog", "/post/", bad)
