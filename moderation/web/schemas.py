"""Widget request validation: JSON in, domain values out, every problem named by its field."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from moderation.config import CommentSettings, SiteSettings
from moderation.domain import inputs
from moderation.errors import InvalidInput
from moderation.services.comments import NewComment
from moderation.services.threads import SORTS, PageRequest

COMMENT_FIELDS = {
    "site",
    "uri",
    "title",
    "parent",
    "author",
    "email",
    "website",
    "text",
    "honeypot",
    "notify",
}
NOTIFY = ("none", "replies", "thread")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_URIS = 100
# What str.isspace() calls a space (re's \s is the same test), the C0 and C1 controls, DEL, the line
# separators and lone surrogates (`domain.inputs`). One regex search rather than a loop over the
# characters: the read fast path checks every thread's URI.
_SPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:(?!\d)")  # a scheme, not a host followed by :port


def require_object(data: Any) -> dict[str, Any]:
    """The parsed body, which must be a JSON object."""
    if not isinstance(data, dict):
        raise InvalidInput("the body must be a JSON object")
    return data


def parse_new_comment(
    data: dict[str, Any], sites: dict[str, SiteSettings], limits: CommentSettings
) -> NewComment:
    """A `NewComment` from a POST body; raise `InvalidInput` naming every bad field at once."""
    errors: dict[str, str] = {f: "unknown field" for f in data if f not in COMMENT_FIELDS}
    values: dict[str, Any] = {}
    for name in ("site", "uri", "text", "title", "author", "email", "website", "honeypot"):
        value = data.get(name, "")
        if value is None:
            value = ""
        if not isinstance(value, str):
            errors[name] = "must be a string"
        elif name == "text":
            problem = inputs.text_problem(value)
            if problem:
                errors[name] = problem
            else:
                values[name] = inputs.clean_text(value)
        else:
            problem = inputs.single_line_problem(value)
            if problem:
                errors[name] = problem
            else:
                values[name] = value.strip()
    parent = data.get("parent")
    if parent is not None and inputs.id_problem(parent):
        errors["parent"] = "must be a comment id"
    notify = data.get("notify") or "none"
    if notify not in NOTIFY:
        errors["notify"] = "must be none, replies or thread"
    if not errors:
        errors.update(_check_values(values, sites, limits))
        if notify != "none" and not values["email"] and "email" not in errors:
            errors["email"] = "required to be notified"
    if errors:
        raise InvalidInput("the comment has problems", fields=errors)
    return NewComment(
        site=values["site"],
        uri=values["uri"],
        text=values["text"],
        title=values["title"],
        parent=parent,
        author=values["author"],
        email=values["email"].lower(),  # stored lower-case, so lookups can use the index
        website=normalize_website(values["website"]),
        honeypot=values["honeypot"],
        notify=notify,
    )


def _check_values(
    values: dict[str, str], sites: dict[str, SiteSettings], limits: CommentSettings
) -> dict[str, str]:
    errors: dict[str, str] = {}
    site = sites.get(values["site"])
    if site is None:
        errors["site"] = "no such site" if values["site"] else "required"
    uri_problem = check_uri(values["uri"])
    if uri_problem:
        errors["uri"] = uri_problem
    if not values["text"].strip():
        errors["text"] = "required"
    caps = {
        "text": limits.max_text_bytes,
        "author": limits.max_author_bytes,
        "email": limits.max_email_bytes,
        "website": limits.max_website_bytes,
    }
    for name, cap in caps.items():
        if len(values[name].encode("utf-8", "surrogatepass")) > cap:
            errors[name] = f"too long (at most {cap} bytes)"
    if len(values["title"]) > limits.max_title_chars:
        errors["title"] = f"too long (at most {limits.max_title_chars} characters)"
    if values["email"] and "email" not in errors and not EMAIL.match(values["email"]):
        errors["email"] = "not an e-mail address"
    if values["website"] and "website" not in errors and not _website_ok(values["website"]):
        errors["website"] = "not an http(s) address"
    if site is not None and site.require_author and not values["author"]:
        errors["author"] = "required"
    if site is not None and site.require_email and not values["email"]:
        errors["email"] = "required"
    return errors


def check_uri(uri: str) -> str | None:
    """Why `uri` is not a page path, or None when it is one."""
    if not uri:
        return "required"
    if not uri.startswith("/") or uri.startswith("//"):
        return "must be a path starting with /"
    if len(uri) > 1024:
        return "too long (at most 1024 characters)"
    if _SPACE_OR_CONTROL.search(uri):
        return "must not contain spaces or control characters"
    return None


def normalize_website(website: str) -> str:
    """Readers type ``example.org``; store ``http://example.org``."""
    if website and "://" not in website:
        return "http://" + website
    return website


def _website_ok(website: str) -> bool:
    if "://" not in website and SCHEME.match(website):  # javascript:…, mailto:…, data:…
        return False
    try:
        parts = urlsplit(normalize_website(website))
        return parts.scheme in ("http", "https") and bool(parts.hostname) and " " not in website
    except ValueError:  # e.g. an unbalanced "[" taken for an IPv6 literal
        return False


def parse_edit(data: dict[str, Any], limits: CommentSettings) -> str:
    """The new text from a PATCH body."""
    unknown = {f: "unknown field" for f in data if f != "text"}
    text = data.get("text")
    problem = inputs.text_problem(text) if isinstance(text, str) else None
    if isinstance(text, str) and not problem:
        text = inputs.clean_text(text)
    if not isinstance(text, str) or not text.strip():
        unknown["text"] = "required" if text in (None, "") else "must be a non-empty string"
    elif problem:
        unknown["text"] = problem
    elif len(text.encode("utf-8", "surrogatepass")) > limits.max_text_bytes:
        unknown["text"] = f"too long (at most {limits.max_text_bytes} bytes)"
    if unknown or not isinstance(text, str):
        raise InvalidInput("the edit has problems", fields=unknown)
    return text


def parse_thread_query(args: Any, sites: Mapping[str, SiteSettings]) -> tuple[str, str]:
    """``site`` and ``uri`` from a thread query string."""
    site, uri = args.get("site", ""), args.get("uri", "")
    errors = {}
    if site not in sites:
        errors["site"] = "no such site" if site else "required"
    problem = check_uri(uri)
    if problem:
        errors["uri"] = problem
    if errors:
        raise InvalidInput("bad thread query", fields=errors)
    return site, uri


MAX_PAGE = 200
PAGE_KEYS = frozenset({"site", "uri", "sort", "limit", "after", "around"})


def parse_page_query(args: Any) -> PageRequest:
    """``sort``, ``limit``, ``after`` and ``around`` of a thread query (all optional)."""
    errors: dict[str, str] = {}
    sort = args.get("sort", "oldest")
    if sort not in SORTS:
        errors["sort"] = f"one of {', '.join(SORTS)}"
    limit = _small_int(args.get("limit"), MAX_PAGE, "limit", errors)
    around = _small_int(args.get("around"), inputs.MAX_ID, "around", errors)
    after = args.get("after") or None
    if after is not None and (len(after) > 200 or _SPACE_OR_CONTROL.search(after)):
        errors["after"] = "not a cursor"
    if errors:
        raise InvalidInput("bad page query", fields=errors)
    return PageRequest(sort=sort, limit=limit, after=after, around=around)


def _small_int(value: str | None, top: int, name: str, errors: dict[str, str]) -> int | None:
    if value is None:
        return None
    if not value.isascii() or not value.isdigit() or not 1 <= int(value) <= top:
        errors[name] = f"a whole number from 1 to {top}"
        return None
    return int(value)


def parse_counts_query(args: Any, sites: Mapping[str, SiteSettings]) -> tuple[str, list[str]]:
    """``site`` and the repeated ``uri`` parameters of a counts query."""
    site = args.get("site", "")
    uris = args.getlist("uri")
    errors = {}
    if site not in sites:
        errors["site"] = "no such site" if site else "required"
    if not uris:
        errors["uri"] = "give at least one uri"
    elif len(uris) > MAX_URIS:
        errors["uri"] = f"at most {MAX_URIS} uris per request"
    elif any(check_uri(u) for u in uris):
        errors["uri"] = "every uri must be a path starting with /"
    if errors:
        raise InvalidInput("bad counts query", fields=errors)
    return site, uris
