"""Input normalization in one place: what every parser (widget JSON, query strings, linkback bodies)
accepts as a single-line field, a text, an integer, and a JSON document.

Why here: a character that one layer lets through is stored once and served forever, in Atom feeds
(XML 1.0 cannot carry most C0 controls: the whole feed stops parsing), in plain-text moderator mails
(a line break in an author's name starts a line of the attacker's choosing, such as a forged
"Approve:" link) and in database queries (PostgreSQL text cannot hold NUL; SQLite integers end at
2**63). So every field is checked on the way in, here, and the formats that serve stored rows
escape again as a second line of defence (`xml_safe`, `one_line`), because rows written before
these rules still exist.

Pure Python: the functions return a problem (a short phrase for the field's error) or a cleaned
value; `moderation.errors.InvalidInput` carries the problems to the client as a 400.
"""

from __future__ import annotations

import json
import re
from typing import Any

from moderation.errors import InvalidInput

#: The largest id both databases can compare: the id columns are PostgreSQL ``integer`` (32 bits:
#: binding a larger value raises "integer out of range"), and SQLite cannot bind beyond 2**63 - 1.
#: No row has a larger id; one asked for matches nothing.
MAX_ID = 2**31 - 1

# C0 controls, DEL, C1 controls and the Unicode line and paragraph separators: none belongs in a
# field shown on one line (str.splitlines() breaks at \x0b, \x0c, \x1c-\x1e, \x85, \u2028, \u2029).
_NOT_ONE_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# What XML 1.0 cannot carry in a text (its Char production), besides lone surrogates: C0 controls
# other than tab, line feed and carriage return, and U+FFFE/U+FFFF.
_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
# Anything that does not render as itself on one line: what `one_line` replaces.
_NOT_PRINTABLE_ONE_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def unicode_problem(value: str) -> str | None:
    """Why `value` is not valid Unicode text (a lone surrogate from a JSON ``\\ud800`` escape, which
    no database or encoder accepts), or None."""
    if _SURROGATE.search(value):
        return "must be valid Unicode (no lone surrogates)"
    return None


def single_line_problem(value: str) -> str | None:
    """Why `value` cannot be a single-line field (author, e-mail, website, title, uri, site, search
    terms), or None. Refused rather than cleaned: a name with a line break in it is no mistake."""
    return unicode_problem(value) or (
        "must not contain control characters or line breaks"
        if _NOT_ONE_LINE.search(value)
        else None
    )


def text_problem(value: str) -> str | None:
    """Why `value` cannot be a comment's text even after `clean_text`, or None."""
    if "\x00" in value:
        return "must not contain NUL characters"
    return unicode_problem(value)


def clean_text(value: str) -> str:
    """A comment's text without the characters XML 1.0 cannot carry (form feeds, escapes, bells
    pasted from elsewhere). Tabs and line breaks stay; check `text_problem` first."""
    return _NOT_XML.sub("", value) if _NOT_XML.search(value) else value


def xml_safe(value: str) -> str:
    """`value` with what XML 1.0 cannot carry removed: for serving rows stored before these rules."""
    return _SURROGATE.sub("\ufffd", _NOT_XML.sub("", value))


def one_line(value: str) -> str:
    """`value` as one line: every control character, line break or separator becomes a space, so a
    stored value can never start a line of its own in a plain-text format (mails, headers)."""
    return _NOT_PRINTABLE_ONE_LINE.sub(" ", value)


def id_problem(value: object, low: int = 1, high: int = MAX_ID) -> str | None:
    """Why `value` (from JSON) is not an id from `low` to `high`, or None."""
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        return f"must be an integer from {low} to {high}"
    return None


def check_id(name: str, value: int, high: int = MAX_ID) -> int:
    """`value` when it is a storable id; raise `InvalidInput` naming `name` otherwise (ids in paths:
    Werkzeug's int converter takes any number of digits)."""
    problem = id_problem(value, 1, high)
    if problem:
        raise InvalidInput(f"bad {name}", fields={name: problem})
    return value


def parse_json(raw: bytes | str) -> Any:
    """The JSON document in `raw`; raise `InvalidInput` for malformed or absurdly nested JSON (the
    decoder recurses once per level: 100,000 brackets raise RecursionError) and for bytes that are
    not UTF-8."""
    try:
        return json.loads(raw)
    except RecursionError:
        raise InvalidInput("the JSON body is nested too deeply") from None
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("the body is not valid JSON") from None
