"""TrackBack 1.2, Pingback 1.0 and Webmention, the pure part: parse what senders send, render what
the protocols answer, advertise our endpoints. No I/O here (PROTOCOLS.md §1–3); reading pages for
links and endpoints is `moderation.domain.pages`.

One module per protocol, and what they share:

* `trackback`: `decode_form` (charsets, TB-14), `parse_trackback` (TB-3…7, TB-D10),
  `trackback_response`, the TrackBack messages.
* `pingback`: `parse_pingback_request` (XML-RPC through defusedxml), `xmlrpc_fault` /
  `xmlrpc_success`.
* `webmention`: `check_webmention` (WM-4, WM-5).
* `common`: `LinkbackRefused` and the fault codes it carries, the limits, `check_url`, `host_of`,
  `safe_xml` (untrusted XML: no DTD, no entities, so no billion laughs, no external entities).
* `discovery`: `trackback_url` and `discovery_markup` for advertising ours (TB-15, PB-4).

Callers use the package as one namespace, ``from moderation.domain import linkbacks as lb``; the
names below are re-exported for that.
"""

from moderation.domain.linkbacks.common import (
    FAULT_ACCESS_DENIED,
    FAULT_ALREADY_REGISTERED,
    FAULT_GENERIC,
    FAULT_NO_LINK,
    FAULT_SOURCE_MISSING,
    FAULT_TARGET_INVALID,
    FAULT_TARGET_MISSING,
    FAULT_UPSTREAM,
    INVALID_PARAMS,
    INVALID_REQUEST,
    MAX_AUTHOR_CHARS,
    MAX_EXCERPT_CHARS,
    MAX_SOURCE_CHARS,
    MAX_TARGET_CHARS,
    MAX_TITLE_CHARS,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    LinkbackRefused,
    check_url,
    host_of,
)
from moderation.domain.linkbacks.discovery import Discovery, discovery_markup, trackback_url
from moderation.domain.linkbacks.pingback import (
    parse_pingback_request,
    parse_xmlrpc_response,
    pingback_request,
    xmlrpc_fault,
    xmlrpc_success,
)
from moderation.domain.linkbacks.trackback import (
    FORM_TYPES,
    TRACKBACK_CLOSED,
    TRACKBACK_DUPLICATE,
    TRACKBACK_POST_ONLY,
    TRACKBACK_TOO_FAST,
    TrackbackPing,
    decode_form,
    parse_trackback,
    parse_trackback_response,
    plain_line,
    trackback_response,
)
from moderation.domain.linkbacks.webmention import check_webmention

__all__ = [
    "FAULT_ACCESS_DENIED",
    "FAULT_ALREADY_REGISTERED",
    "FAULT_GENERIC",
    "FAULT_NO_LINK",
    "FAULT_SOURCE_MISSING",
    "FAULT_TARGET_INVALID",
    "FAULT_TARGET_MISSING",
    "FAULT_UPSTREAM",
    "FORM_TYPES",
    "INVALID_PARAMS",
    "INVALID_REQUEST",
    "MAX_AUTHOR_CHARS",
    "MAX_EXCERPT_CHARS",
    "MAX_SOURCE_CHARS",
    "MAX_TARGET_CHARS",
    "MAX_TITLE_CHARS",
    "METHOD_NOT_FOUND",
    "PARSE_ERROR",
    "TRACKBACK_CLOSED",
    "TRACKBACK_DUPLICATE",
    "TRACKBACK_POST_ONLY",
    "TRACKBACK_TOO_FAST",
    "Discovery",
    "LinkbackRefused",
    "TrackbackPing",
    "check_url",
    "check_webmention",
    "decode_form",
    "discovery_markup",
    "host_of",
    "parse_pingback_request",
    "parse_trackback",
    "parse_trackback_response",
    "parse_xmlrpc_response",
    "pingback_request",
    "plain_line",
    "trackback_response",
    "trackback_url",
    "xmlrpc_fault",
    "xmlrpc_success",
]
