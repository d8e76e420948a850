"""Structured logs: one JSON object per line, and one access line per request."""

from __future__ import annotations

import json
import logging
import re
import sys
import time

from flask import Flask, Response, g, request

ACCESS = logging.getLogger("moderation.access")


class JsonFormatter(logging.Formatter):
    """Format records as JSON lines; extra fields given as ``extra={"fields": {...}}`` are merged."""

    def format(self, record: logging.LogRecord) -> str:
        """One JSON object."""
        data = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        data.update(getattr(record, "fields", {}))
        if record.exc_info:
            data["traceback"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


# The job queue's tasks that run every minute (`moderation.runtime.jobs`): huey logs two info lines
# for each run ("Executing …", "… executed in …"), four lines a minute that say nothing.
_EVERY_MINUTE = re.compile(r"\bmoderation\.runtime\.jobs\.(?:outbox\.sweep|digest): ")


class QuietEveryMinute(logging.Filter):
    """Drop the job queue's info lines about the tasks that run every minute; their warnings and
    errors, and every line of the other tasks, pass."""

    def filter(self, record: logging.LogRecord) -> bool:
        """False for an info (or lower) record of huey's naming an every-minute task."""
        if record.levelno >= logging.WARNING or not record.name.startswith("huey"):
            return True
        return _EVERY_MINUTE.search(record.getMessage()) is None


def configure_logging(level: str = "info") -> None:
    """Send every log record to stderr as JSON (below ``debug``, without the every-minute tasks'
    info lines)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    if level.lower() != "debug":
        handler.addFilter(QuietEveryMinute())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def init_access_log(app: Flask) -> None:
    """Log method, path, status, duration and client for every request."""

    @app.before_request
    def _start() -> None:
        g.request_started = time.perf_counter()

    @app.after_request
    def _log(response: Response) -> Response:
        started = g.get("request_started")
        if started is not None:
            from moderation.web.client import client_ip

            fields = {
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "ms": round((time.perf_counter() - started) * 1000, 2),
                "ip": client_ip(),
            }
            reason = g.get("error_reason")
            if reason and response.status_code >= 400:
                fields["reason"] = reason  # what the answer told the client, for the site owner
                origin = request.headers.get("Origin")
                if origin:
                    fields["origin"] = origin
            ACCESS.info(
                "%s %s %s%s",
                request.method,
                request.path,
                response.status_code,
                f" {fields['reason']}" if "reason" in fields else "",
                extra={"fields": fields},
            )
        return response
