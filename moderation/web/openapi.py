"""The OpenAPI 3.1 description of the public APIs, kept true by tests/web/test_openapi.py."""

from __future__ import annotations

from typing import Any

ERROR = {"$ref": "#/components/responses/Error"}
SITE = {"name": "site", "in": "query", "required": True, "schema": {"type": "string"}}
URI = {"name": "uri", "in": "query", "required": True, "schema": {"type": "string"}}
TOKEN = {"name": "X-Edit-Token", "in": "header", "required": True, "schema": {"type": "string"}}
COMMENT_ID = {
    "name": "comment_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1},
}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    """A required JSON request body."""
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


COMMENT: dict[str, Any] = {
    "type": "object",
    "required": [
        "id",
        "parent",
        "kind",
        "author",
        "website",
        "avatar",
        "html",
        "created",
        "modified",
        "replies",
    ],
    "properties": {
        "id": {"type": "integer"},
        "parent": {"type": ["integer", "null"]},
        "kind": {"enum": ["comment", "trackback", "pingback", "webmention"]},
        "author": {"type": ["string", "null"]},
        "website": {"type": ["string", "null"]},
        "avatar": {"type": ["string", "null"]},
        "html": {"type": "string"},
        "created": {"type": ["string", "null"], "format": "date-time"},
        "modified": {"type": ["string", "null"], "format": "date-time"},
        "deleted": {"type": "boolean"},
        "replies": {"type": "array", "items": {"$ref": "#/components/schemas/Comment"}},
        "likes": {"type": "integer", "description": "unless the site's votes are off"},
        "dislikes": {"type": "integer", "description": 'when the site\'s votes are "up-down"'},
        "verified": {"type": "boolean", "description": "true: a signed-in reader's comment"},
        "profile": {
            "type": ["string", "null"],
            "description": "a signed-in reader's profile link at their provider",
        },
    },
}

NEW_COMMENT = {
    "type": "object",
    "required": ["site", "uri", "text"],
    "additionalProperties": False,
    "properties": {
        "site": {"type": "string"},
        "uri": {"type": "string", "pattern": "^/"},
        "title": {"type": "string"},
        "parent": {"type": ["integer", "null"]},
        "author": {"type": "string"},
        "email": {"type": "string"},
        "website": {"type": "string"},
        "text": {"type": "string", "minLength": 1},
        "honeypot": {"type": "string", "description": "must stay empty; bots fill it"},
        "notify": {
            "enum": ["none", "replies", "thread"],
            "default": "none",
            "description": "e-mail me (after I confirm) of replies to this comment, or of every "
            "new comment on the page; needs email",
        },
    },
}

THREAD = {
    "type": "object",
    "required": ["thread", "comments"],
    "properties": {
        "thread": {
            "type": "object",
            "required": ["uri", "title", "count", "open"],
            "properties": {
                "uri": {"type": "string"},
                "title": {"type": "string"},
                "count": {"type": "integer", "description": "the whole thread's"},
                "likes": {"type": "integer", "description": "page likes"},
                "page_likes": {"type": "boolean", "description": "the site takes page likes"},
                "open": {"type": "boolean"},
                "version": {"type": "integer"},
                "trackback_url": {"type": "string", "description": "the page's TrackBack ping URL"},
            },
        },
        "comments": {"type": "array", "items": _ref("Comment")},
        "next": {
            "type": ["string", "null"],
            "description": "the cursor of the next page (`after`), null on the last",
        },
    },
}

VOTES = {
    "type": "object",
    "required": ["likes", "mine"],
    "properties": {
        "likes": {"type": "integer"},
        "dislikes": {"type": "integer"},
        "mine": {"type": ["integer", "boolean"]},
    },
}

READER = {
    "name": "X-Reader",
    "in": "header",
    "required": True,
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{8,64}$"},
    "description": "the opaque reader id the widget keeps in localStorage",
}

PAGE_QUERY = [
    {
        "name": "sort",
        "in": "query",
        "required": False,
        "schema": {"enum": ["oldest", "newest", "top"], "default": "oldest"},
    },
    {
        "name": "limit",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 1, "maximum": 200},
        "description": "top-level comments per page (default: the site's page_size)",
    },
    {
        "name": "after",
        "in": "query",
        "required": False,
        "schema": {"type": "string", "maxLength": 200},
        "description": "`next` of the previous page",
    },
    {
        "name": "around",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 1, "maximum": 2147483647},
        "description": "return the pages up to the one holding this comment",
    },
]

POSTED = {
    "type": "object",
    "required": ["comment", "edit_token"],
    "properties": {
        "comment": _ref("Comment"),
        "edit_token": {"type": "string"},
        "edit_until": {"type": "string", "format": "date-time"},
    },
}

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "fields": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        }
    },
}


MODERATED = {
    "type": "object",
    "description": "M, a moderator's view of a comment: C plus what only moderators see; "
    "linkbacks also carry source and verified",
    "required": [
        *COMMENT["required"],
        "status",
        "site",
        "uri",
        "email",
        "ip",
        "user_agent",
        "text",
        "spam",
    ],
    "properties": {
        **COMMENT["properties"],
        "status": {"enum": ["pending", "approved", "spam", "deleted"]},
        "site": {"type": "string"},
        "uri": {"type": "string"},
        "email": {"type": "string"},
        "ip": {"type": "string"},
        "user_agent": {"type": "string"},
        "text": {"type": "string", "description": "the raw Markdown"},
        "spam": {
            "type": "object",
            "required": ["verdict", "score", "signals"],
            "description": "the latest spam check (nulls when the comment was never scored)",
            "properties": {
                "verdict": {"enum": ["ham", "unsure", "spam", "discard", None]},
                "score": {"type": ["number", "null"]},
                "signals": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name", "score", "reason"],
                        "properties": {
                            "name": {"type": "string"},
                            "score": {"type": "number"},
                            "reason": {"type": "string"},
                            "verdict": {"enum": ["ham", "unsure", "spam", "discard"]},
                        },
                    },
                },
            },
        },
        "source": {"type": ["string", "null"], "description": "linkbacks: the citing page"},
        "verified": {
            "type": ["boolean", "null"],
            "description": "linkbacks: whether the source links to the page",
        },
    },
}

MODERATION_PAGE = {
    "type": "object",
    "required": ["comments", "next"],
    "properties": {
        "comments": {"type": "array", "items": _ref("ModeratedComment")},
        "next": {"type": ["string", "null"], "description": "the cursor of the next page"},
    },
}

BEARER: list[dict[str, list[str]]] = [{"bearer": []}]


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


MODERATION_QUERY = [
    _query(
        "status",
        {"enum": ["pending", "approved", "spam", "deleted"], "default": "pending"},
        "the queue's tab",
    ),
    _query("site", {"type": "string"}, "a configured site id"),
    _query("uri", {"type": "string"}, "one thread of the site"),
    _query(
        "kind", {"enum": ["comment", "trackback", "pingback", "webmention"]}, "what was received"
    ),
    _query(
        "q",
        {"type": "string", "maxLength": 200},
        "case-insensitive substring of the text, author, e-mail, website or IP",
    ),
    _query("discarded", {"enum": ["1", "0"]}, "1: include Akismet's discards in the spam tab"),
    _query(
        "limit",
        {"type": "integer", "minimum": 1, "maximum": 100, "default": 50},
        "comments per page",
    ),
    _query("cursor", {"type": "string", "pattern": "^[0-9]+$"}, "`next` of the previous page"),
]


DISCOVERY_KEYS = [
    "page_url",
    "trackback_url",
    "pingback_url",
    "webmention_url",
    "html",
    "link_header",
    "x_pingback",
    "trackback_rdf",
]


def _errors(*codes: int) -> dict[str, Any]:
    return {str(code): ERROR for code in codes}


def _paths() -> dict[str, Any]:
    return {
        "/api/v1/threads/comments": {
            "get": {
                "summary": "A page of a thread's approved comments: top-level ones with replies",
                "parameters": [SITE, URI, *PAGE_QUERY],
                "responses": {
                    "200": _json(THREAD),
                    "304": {"description": "Not modified"},
                    **_errors(400, 403),
                },
            }
        },
        "/api/v1/counts": {
            "get": {
                "summary": "Comment counts for several pages",
                "parameters": [
                    SITE,
                    {
                        **URI,
                        "explode": True,
                        "schema": {"type": "array", "items": {"type": "string"}},
                    },
                ],
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "required": ["counts"],
                            "properties": {
                                "counts": {
                                    "type": "object",
                                    "additionalProperties": {"type": "integer"},
                                }
                            },
                        }
                    ),
                    **_errors(400, 403),
                },
            }
        },
        "/api/v1/comments": {
            "post": {
                "summary": "Post a comment",
                "requestBody": _body(_ref("NewComment")),
                "responses": {
                    "201": _json(POSTED, "Published"),
                    "202": _json(POSTED, "Waiting for moderation"),
                    **_errors(400, 403, 409, 413, 415, 429),
                },
            }
        },
        "/api/v1/comments/{comment_id}": {
            "patch": {
                "summary": "Edit one's own comment within the edit window",
                "parameters": [COMMENT_ID, TOKEN],
                "requestBody": _body(
                    {
                        "type": "object",
                        "required": ["text"],
                        "additionalProperties": False,
                        "properties": {"text": {"type": "string", "minLength": 1}},
                    }
                ),
                "description": (
                    "Every edit is judged by the site's policy like a new comment; at most "
                    "`[comments] max_edits` per comment (409 `too_many_edits`) and "
                    "`[guard] edit_rate_limit` per client address (429 with Retry-After)."
                ),
                "responses": {
                    "200": _json(_ref("Comment")),
                    **_errors(400, 403, 404, 409, 415, 429),
                },
            },
            "delete": {
                "summary": "Delete one's own comment within the edit window",
                "parameters": [COMMENT_ID, TOKEN],
                "responses": {"204": {"description": "Deleted"}, **_errors(403, 404)},
            },
        },
        "/api/v1/comments/{comment_id}/vote": {
            "post": {
                "summary": "A reader's vote on a published comment (0 takes it back)",
                "parameters": [COMMENT_ID, READER],
                "requestBody": _body(
                    {
                        "type": "object",
                        "required": ["value"],
                        "properties": {"value": {"enum": [1, -1, 0]}},
                    }
                ),
                "responses": {"200": _json(VOTES), **_errors(400, 403, 404, 415, 429)},
            }
        },
        "/api/v1/likes": {
            "post": {
                "summary": "A reader's like of a page (page_likes = true)",
                "parameters": [READER],
                "requestBody": _body(
                    {
                        "type": "object",
                        "required": ["site", "uri"],
                        "properties": {
                            "site": {"type": "string"},
                            "uri": {"type": "string", "pattern": "^/"},
                            "like": {"type": "boolean", "default": True},
                        },
                    }
                ),
                "responses": {"200": _json(VOTES), **_errors(400, 403, 415, 429)},
            }
        },
        "/api/v1/me": {
            "get": {
                "summary": "The signed-in reader of the Authorization: Bearer token",
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "required": ["provider", "name", "email_verified", "avatar", "profile"],
                            "properties": {
                                "provider": {"type": "string"},
                                "name": {"type": "string"},
                                "email_verified": {"type": "boolean"},
                                "avatar": {"type": ["string", "null"]},
                                "profile": {"type": ["string", "null"]},
                            },
                        }
                    ),
                    **_errors(401, 403),
                },
            }
        },
        "/api/v1/me/logout": {
            "post": {
                "summary": "Sign out: every token of the reader stops working",
                "responses": {"204": {"description": "signed out"}, **_errors(401, 403)},
            }
        },
        "/api/v1/preview": {
            "post": {
                "summary": "The HTML that posting this text would store",
                "requestBody": _body(
                    {
                        "type": "object",
                        "required": ["text"],
                        "additionalProperties": False,
                        "properties": {"text": {"type": "string", "minLength": 1}},
                    }
                ),
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "required": ["html"],
                            "properties": {"html": {"type": "string"}},
                        }
                    ),
                    **_errors(400, 403, 415, 429),
                },
            }
        },
        "/api/v1/subscriptions": {
            "post": {
                "summary": "Subscribe an address to a page's new comments (double opt-in)",
                "description": "Always 202 with the same body: the answer tells nothing about "
                "the address. A confirmation mail is sent unless the subscription is confirmed "
                "or the request is over the per-address or per-IP limits.",
                "requestBody": _body(
                    {
                        "type": "object",
                        "required": ["site", "uri", "email"],
                        "properties": {
                            "site": {"type": "string"},
                            "uri": {"type": "string", "pattern": "^/"},
                            "email": {"type": "string"},
                        },
                    }
                ),
                "responses": {
                    "202": _json({"type": "object"}, "Accepted"),
                    **_errors(400, 403, 415, 429),
                },
            }
        },
        "/api/v1/moderation/comments": {
            "get": {
                "summary": "The moderation queue, newest first, keyset-paginated",
                "security": BEARER,
                "parameters": MODERATION_QUERY,
                "responses": {"200": _json(MODERATION_PAGE), **_errors(400, 401)},
            }
        },
        "/api/v1/moderation/comments/{comment_id}/{action}": {
            "post": {
                "summary": "Approve, mark as spam, mark as not spam, delete or restore a comment",
                "security": BEARER,
                "parameters": [
                    COMMENT_ID,
                    {
                        "name": "action",
                        "in": "path",
                        "required": True,
                        "schema": {"enum": ["approve", "spam", "ham", "delete", "restore"]},
                    },
                ],
                "responses": {"200": _json(_ref("ModeratedComment")), **_errors(401, 404, 409)},
            }
        },
        "/api/v1/discovery": {
            "get": {
                "summary": "Linkback discovery for a page: the markup and headers it must carry",
                "description": "Paste `html` into the page's head and `trackback_rdf` into its "
                "body; send `link_header` as `Link` and `x_pingback` as "
                "`X-Pingback` when the host can set headers.",
                "parameters": [SITE, URI],
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "required": DISCOVERY_KEYS,
                            "properties": {key: {"type": "string"} for key in DISCOVERY_KEYS},
                        }
                    ),
                    **_errors(400),
                },
            }
        },
        "/healthz": {
            "get": {
                "summary": "Health",
                "responses": {
                    "200": _json({"type": "object", "properties": {"status": {"const": "ok"}}})
                },
            }
        },
        "/readyz": {
            "get": {
                "summary": "Readiness: database, migrations and a live job consumer",
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "required": ["status", "checks"],
                            "properties": {
                                "status": {"const": "ready"},
                                "checks": {
                                    "type": "object",
                                    "additionalProperties": {"type": "string"},
                                },
                            },
                        }
                    ),
                    "503": _json(
                        {
                            "type": "object",
                            "required": ["status", "checks", "error"],
                            "properties": {
                                "status": {"const": "not ready"},
                                "checks": {
                                    "type": "object",
                                    "additionalProperties": {"type": "string"},
                                },
                                "error": {
                                    "type": "object",
                                    "required": ["code", "message"],
                                    "properties": {
                                        "code": {"const": "not_ready"},
                                        "message": {"type": "string"},
                                    },
                                },
                            },
                        }
                    ),
                },
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics, for [metrics] allow addresses or its bearer token",
                "responses": {
                    "200": {
                        "description": "Prometheus' text exposition format",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                    **_errors(403),
                },
            }
        },
    }


def openapi_document(public_url: str) -> dict[str, Any]:
    """The whole document, with this deployment's URL as its server."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "moderation", "version": "1"},
        "servers": [{"url": public_url.rstrip("/")}],
        "paths": _paths(),
        "components": {
            "schemas": {
                "Comment": COMMENT,
                "NewComment": NEW_COMMENT,
                "Error": ERROR_SCHEMA,
                "ModeratedComment": MODERATED,
            },
            "responses": {"Error": _json(_ref("Error"), "Error")},
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "a token from `moderation tokens create`",
                }
            },
        },
    }
