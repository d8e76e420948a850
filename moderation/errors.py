"""The domain's exceptions. Services raise these; only `moderation.web.errors` knows HTTP."""

from __future__ import annotations


class ModerationError(Exception):
    """Base of every error the service reports to a client."""

    code = "error"

    def __init__(self, message: str, *, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or {}


class InvalidInput(ModerationError):
    """The request's data is malformed; `fields` names the culprits."""

    code = "invalid"


class NotFound(ModerationError):
    """The thing asked for does not exist (or is not visible to the caller)."""

    code = "not_found"


class Forbidden(ModerationError):
    """The caller may not do this (closed thread, foreign origin, bad token)."""

    code = "forbidden"


class ThreadClosed(Forbidden):
    """The thread no longer takes comments."""

    code = "thread_closed"


class TokenInvalid(Forbidden):
    """A signed token was tampered with, is for another purpose, or was already used."""

    code = "token_invalid"


class TokenExpired(TokenInvalid):
    """A signed token was genuine but its time is up."""

    code = "token_expired"


class Duplicate(ModerationError):
    """The same comment was already received (WordPress's ``comment_duplicate``)."""

    code = "duplicate"


class RateLimited(ModerationError):
    """Too many submissions too quickly; retry after `retry_after` seconds."""

    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = max(1, retry_after)


class DatabaseBusy(ModerationError):
    """A write could not get the database's write lock in time; retry after `retry_after` seconds
    (HTTP 503: nothing was written)."""

    code = "busy"

    def __init__(self, message: str, *, retry_after: int, waited: float = 0.0) -> None:
        super().__init__(message)
        self.retry_after = max(1, retry_after)
        self.waited = waited


class InvalidTransition(ModerationError):
    """The action does not apply to the comment's current status."""

    code = "invalid_transition"


class ScorerUnavailable(Exception):
    """A scorer could not give an answer (timeout, outage, nonsense); the submission waits."""
