"""`check_uri`: what the API and the read fast path accept as a page path."""

import pytest

from moderation.web.schemas import check_uri


@pytest.mark.parametrize("uri", ["/", "/2010/07/co-production/", "/caf%C3%A9/", "/café/?p=1#c"])
def test_a_page_path_is_accepted(uri: str) -> None:
    assert check_uri(uri) is None


@pytest.mark.parametrize(
    ("uri", "why"),
    [
        ("", "required"),
        ("post/", "must be a path starting with /"),
        ("//evil.example/", "must be a path starting with /"),
        ("/" + "a" * 1024, "too long (at most 1024 characters)"),
    ],
)
def test_what_is_not_a_path_says_why(uri: str, why: str) -> None:
    assert check_uri(uri) == why


@pytest.mark.parametrize(
    "char", [" ", "\t", "\n", "\x00", "\x1b", "\x7f", "\xa0", "\u2028", "\u3000"]
)
def test_spaces_and_control_characters_are_refused_wherever_they_are(char: str) -> None:
    for uri in (f"/a{char}b/", f"/{char}", f"/post/{char}"):
        assert check_uri(uri) == "must not contain spaces or control characters"
