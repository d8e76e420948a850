"""Blueprint ``public``: health, avatars, the demo page and the API's self-description."""

from __future__ import annotations

import functools
import gzip
import hashlib
from pathlib import Path

from flask import Blueprint, abort, current_app, jsonify, render_template, request
from sqlalchemy import text
from werkzeug.wrappers import Response

from moderation.runtime import readiness
from moderation.runtime.heartbeat import Heartbeat, heartbeat_for
from moderation.web import current
from moderation.web.openapi import openapi_document

bp = Blueprint("public", __name__)
HEARTBEAT_KEY = "moderation.heartbeat"  # the job consumer's heartbeat, read by /readyz


@bp.get("/healthz")
def healthz() -> Response:
    """200 when the database answers: the liveness probe (readiness is /readyz)."""
    current.session().execute(text("SELECT 1"))
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> Response:
    """200 when this deployment can do all its work: the database answers, its schema is at the
    newest migration and a job consumer has beaten lately; else 503 naming what is wrong (in the
    API's error shape too, built here so that it never depends on the error handlers)."""
    parts = current.parts()
    result = readiness.check(parts.database, parts.context.settings, consumer_heartbeat())
    if result.ready:
        return jsonify({"status": "ready", "checks": result.checks})
    message = "; ".join(result.problems)
    response = jsonify(
        {
            "status": "not ready",
            "checks": result.checks,
            "error": {"code": "not_ready", "message": message},
        }
    )
    response.status_code = 503
    response.headers["Cache-Control"] = "no-store"
    return response


def consumer_heartbeat() -> Heartbeat:
    """The job consumer's heartbeat (`heartbeat_for`), made once per app."""
    heartbeat = current_app.extensions.get(HEARTBEAT_KEY)
    if heartbeat is None:
        heartbeat = current_app.extensions[HEARTBEAT_KEY] = heartbeat_for(current.settings())
    return heartbeat


@bp.get("/avatar/<string:key>.svg")
def avatar(key: str) -> Response:
    """A 5×5 mirrored identicon for an opaque key (a salted hash: it reveals no e-mail)."""
    if not (4 <= len(key) <= 64) or not key.isalnum():
        abort(404)
    digest = hashlib.sha256(key.encode()).digest()
    hue = digest[0] * 360 // 256
    cells = []
    for i in range(15):
        if digest[1 + i] % 2:
            x, y = i // 5, i % 5
            for col in {x, 4 - x}:
                cells.append(f'<rect x="{col + 1}" y="{y + 1}" width="1" height="1"/>')
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 7 7" width="48" height="48">'
        f'<rect width="7" height="7" fill="hsl({hue},45%,92%)"/>'
        f'<g fill="hsl({hue},55%,45%)">{"".join(cells)}</g></svg>'
    )
    response = Response(svg, mimetype="image/svg+xml")
    response.headers["Cache-Control"] = "public, max-age=604800, immutable"
    return response


@functools.cache
def _embed_js(static_folder: str) -> tuple[bytes, bytes, str]:
    """embed.js, its gzip form (compressed once per process) and their ETag."""
    raw = (Path(static_folder) / "embed.js").read_bytes()
    return raw, gzip.compress(raw, 9, mtime=0), hashlib.sha256(raw).hexdigest()[:32]


@bp.get("/embed.js")
def embed_js() -> Response:
    """The widget script (its CSS inside), gzipped for clients that accept it, revalidated by ETag."""
    raw, packed, etag = _embed_js(str(current_app.static_folder))
    use_gzip = "gzip" in request.headers.get("Accept-Encoding", "")
    response = Response(packed if use_gzip else raw, mimetype="text/javascript")
    if use_gzip:
        response.headers["Content-Encoding"] = "gzip"
    response.set_etag(etag + ("-gz" if use_gzip else ""))
    response.vary.add("Accept-Encoding")
    response.headers["Cache-Control"] = "public, max-age=300"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response.make_conditional(request)


@bp.get("/demo/")
def demo() -> str:
    """A demo page embedding the widget for ``[server] demo_site`` (404 when none is set)."""
    settings = current.settings()
    if not settings.server.demo_site:
        abort(404)
    # The widget is loaded from the address the page was opened at (it calls the API there, as
    # its own origin), so `moderation serve --port N` shows a working demo whatever public_url says.
    return render_template(
        "demo.html",
        site=settings.server.demo_site,
        uri="/demo/",
        public_url=request.host_url.rstrip("/"),
    )


@bp.get("/api/v1/openapi.json")
def openapi() -> Response:
    """The OpenAPI 3.1 document of the widget API."""
    settings = current.settings()
    return jsonify(openapi_document(settings.server.public_url))
