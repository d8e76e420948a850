"""When a thread takes comments: the one rule, for posting, linkbacks, cache keys and the widget."""

from __future__ import annotations

from datetime import datetime, timedelta


def closes_at(created_at: datetime, close_after_days: int) -> datetime | None:
    """When a thread created at `created_at` stops taking comments by age (None: never)."""
    return created_at + timedelta(days=close_after_days) if close_after_days else None


def is_open(now: datetime, created_at: datetime, closed: bool, close_after_days: int) -> bool:
    """Whether a thread takes comments at `now`: not closed by hand, not older than its site
    allows (``close_after_days``; 0 keeps threads open)."""
    if closed:
        return False
    until = closes_at(created_at, close_after_days)
    return until is None or now <= until
