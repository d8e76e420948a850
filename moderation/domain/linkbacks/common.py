"""What the three protocols share: `LinkbackRefused` and the fault codes a refusal carries, the
limits, the URL checks (`check_url`, `host_of`) and parsing untrusted XML (`safe_xml`: through
defusedxml, no DTD, no entities, so no billion laughs and no external entities).
"""

from __future__ import annotations

from urllib.parse import urlsplit
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as safe_fromstring

from moderation.domain.inputs import single_line_problem
from moderation.errors import InvalidInput

# Limits (TB-7, TB-D10): one rule for every channel. Sources are stored as the author's website,
# a 512-character column; targets only need to name a thread (a uri of at most 1024 characters).
MAX_SOURCE_CHARS = 512
MAX_TARGET_CHARS = 2048
MAX_TITLE_CHARS = 250
MAX_EXCERPT_CHARS = 252
MAX_AUTHOR_CHARS = 200

# Pingback 1.0 fault codes (§2.2); the high nibble says whose problem it is (PB-1). Every refusal
# carries one (`LinkbackRefused.fault`), whichever protocol it came by: the Pingback endpoint
# answers with it, TrackBack and Webmention ignore it.
FAULT_GENERIC = 0
FAULT_SOURCE_MISSING = 0x10
FAULT_NO_LINK = 0x11
FAULT_TARGET_MISSING = 0x20
FAULT_TARGET_INVALID = 0x21
FAULT_ALREADY_REGISTERED = 0x30
FAULT_ACCESS_DENIED = 0x31
FAULT_UPSTREAM = 0x32  # for proxies only: never raised here, listed for completeness
# XML-RPC's interoperability codes, for requests that are not a pingback.ping call at all.
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602


class LinkbackRefused(InvalidInput):
    """A linkback refused before it is stored. `fault` is the Pingback fault code it stands for;
    the web layer turns it into the protocol's own answer."""

    code = "linkback_refused"

    def __init__(self, message: str, *, fault: int = FAULT_GENERIC, field: str | None = None):
        super().__init__(message, fields={field: message} if field else None)
        self.fault = fault


# --- URLs ----------------------------------------------------------------------------------------


def check_url(value: str, *, name: str, max_chars: int, fault: int = FAULT_GENERIC) -> str:
    """`value` stripped, if it is an absolute http(s) URL without credentials; else refuse it.

    Raises `LinkbackRefused` naming `name` (TB-5, WM-4; Pingback faults 16/32 via `fault`).
    """
    value = value.strip()
    if not value:
        raise LinkbackRefused(f"{name} is required", fault=fault, field=name)
    if len(value) > max_chars:
        raise LinkbackRefused(
            f"{name} is too long (at most {max_chars} characters)", fault=fault, field=name
        )
    try:
        parts = urlsplit(value)
        _ = parts.port  # a bad port raises ValueError only when read
    except ValueError:
        raise LinkbackRefused(f"{name} is not a valid URL", fault=fault, field=name) from None
    if (
        parts.scheme.lower() not in ("http", "https")
        or not parts.hostname
        or any(ch.isspace() for ch in value)
        or single_line_problem(value) is not None  # C0, DEL, C1, separators, lone surrogates
    ):
        raise LinkbackRefused(f"{name} must be an absolute http(s) URL", fault=fault, field=name)
    if parts.username is not None or parts.password is not None:
        raise LinkbackRefused(f"{name} must not carry credentials", fault=fault, field=name)
    return value


def host_of(url: str) -> str:
    """The host of `url`, for a stand-in author name ("" when there is none)."""
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""


# --- XML ------------------------------------------------------------------------------------------


def safe_xml(body: bytes) -> Element:
    """Parse untrusted XML (an XML-RPC call or answer, a TrackBack answer); DTDs (so every entity
    trick) and external references are refused with fault -32700."""
    try:
        return safe_fromstring(body, forbid_dtd=True)
    except DefusedXmlException:
        raise LinkbackRefused(
            "parse error: DTDs and entities are not accepted", fault=PARSE_ERROR
        ) from None
    except (ParseError, ValueError, LookupError, UnicodeError):
        raise LinkbackRefused("parse error: not well-formed XML", fault=PARSE_ERROR) from None
