"""The OpenAPI 3.1 description of the public APIs, kept true by tests/web/test_openapi.py."""

from __future__ import annotations

from typing import Any

ERROR = {"$ref": "#/components/responses/Error"}
SITE = {"name": "site", "in": "query", "required": True, "schema": {"type": "string"}}
URI = {"name": "uri", "in": "query", "required": True, "schema": {"type": "string"}}
TOKEN = {"name": "X-Edit-Token", "in": "header", "required": True, "schema": {"type": "string"}}
COMMENT_ID = {"name": "comment_id", "in": "path", "required": True,
              "schema": {"type": "integer", "minimum": 1}}  # fmt: skip


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


COMMENT = {
    "type": "object",
    "required": ["id", "parent", "kind", "author", "website", "avatar", "html", "created",
                 "modified", "replies"],
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
    },
}  # fmt: skip

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
                "count": {"type": "integer"},
                "open": {"type": "boolean"},
                "version": {"type": "integer"},
            },
        },
        "comments": {"type": "array", "items": _ref("Comment")},
    },
}

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


def _errors(*codes: int) -> dict[str, Any]:
    return {str(code): ERROR for code in codes}


def _paths() -> dict[str, Any]:
    return {
        "/api/v1/threads/comments": {
            "get": {
                "summary": "Approved comments of a page, as a tree",
                "parameters": [SITE, URI],
                "responses": {"200": _json(THREAD), "304": {"description": "Not modified"},
                              **_errors(400, 403)},
            }
        },
        "/api/v1/counts": {
            "get": {
                "summary": "Comment counts for several pages",
                "parameters": [SITE, {**URI, "explode": True,
                                      "schema": {"type": "array", "items": {"type": "string"}}}],
                "responses": {"200": _json({"type": "object", "required": ["counts"],
                    "properties": {"counts": {"type": "object",
                                              "additionalProperties": {"type": "integer"}}}}),
                    **_errors(400, 403)},
            }
        },
        "/api/v1/comments": {
            "post": {
                "summary": "Post a comment",
                "requestBody": {"required": True,
                                "content": {"application/json": {"schema": _ref("NewComment")}}},
                "responses": {"201": _json(POSTED, "Published"),
                              "202": _json(POSTED, "Waiting for moderation"),
                              **_errors(400, 403, 409, 413, 415, 429)},
            }
        },
        "/api/v1/comments/{comment_id}": {
            "patch": {
                "summary": "Edit one's own comment within the edit window",
                "parameters": [COMMENT_ID, TOKEN],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["text"], "additionalProperties": False,
                    "properties": {"text": {"type": "string", "minLength": 1}}}}}},
                "responses": {"200": _json(_ref("Comment")), **_errors(400, 403, 404, 415)},
            },
            "delete": {
                "summary": "Delete one's own comment within the edit window",
                "parameters": [COMMENT_ID, TOKEN],
                "responses": {"204": {"description": "Deleted"}, **_errors(403, 404)},
            },
        },
        "/healthz": {
            "get": {
                "summary": "Health",
                "responses": {"200": _json({"type": "object", "properties": {
                    "status": {"const": "ok"}}})},
            }
        },
    }  # fmt: skip


def openapi_document(public_url: str) -> dict[str, Any]:
    """The whole document, with this deployment's URL as its server."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "moderation", "version": "1"},
        "servers": [{"url": public_url.rstrip("/")}],
        "paths": _paths(),
        "components": {
            "schemas": {"Comment": COMMENT, "NewComment": NEW_COMMENT, "Error": ERROR_SCHEMA},
            "responses": {"Error": _json(_ref("Error"), "Error")},
        },
    }
