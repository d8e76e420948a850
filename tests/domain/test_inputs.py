"""The input rules every parser shares (`moderation.domain.inputs`)."""

import pytest

from moderation.domain import inputs
from moderation.errors import InvalidInput


@pytest.mark.parametrize(
    "value", ["a\x00b", "a\x0bb", "a\r\nb", "a\x7fb", "a\x85b", "a\u2028b", "a\ud800b", "\tx"]
)
def test_single_line_refuses_controls_breaks_and_surrogates(value):
    assert inputs.single_line_problem(value)


@pytest.mark.parametrize("value", ["", "Ann Lee", "Zoë 😀", "https://x.example/?a=b#c", "/post/"])
def test_single_line_accepts_ordinary_text(value):
    assert inputs.single_line_problem(value) is None


def test_clean_text_keeps_tabs_and_line_breaks_and_drops_what_xml_cannot_carry():
    assert inputs.clean_text("a\tb\r\nc\x0cd\x1be\ufffff") == "a\tb\r\ncdef"
    assert inputs.text_problem("a\x00b")
    assert inputs.text_problem("a\udc00b")


def test_xml_safe_and_one_line_serve_legacy_values():
    assert inputs.xml_safe("Bob\x0bSmith\ud800") == "BobSmith\ufffd"
    assert inputs.one_line("Bob\r\nApprove:\u2028x\x85y") == "Bob  Approve: x y"


@pytest.mark.parametrize("value", [0, -1, 2**31, 2**63, 10**30, True, "1", 1.0, None])
def test_ids_out_of_range_or_not_integers_are_problems(value):
    assert inputs.id_problem(value)
    assert inputs.id_problem(2**31 - 1) is None


def test_parse_json_refuses_absurd_nesting_and_malformed_bodies():
    with pytest.raises(InvalidInput, match="nested"):
        inputs.parse_json("[" * 100_000 + "]" * 100_000)
    for raw in (b"{", b"\xff\xfe", b""):
        with pytest.raises(InvalidInput):
            inputs.parse_json(raw)
    assert inputs.parse_json(b'{"a": [1]}') == {"a": [1]}
