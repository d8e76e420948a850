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
