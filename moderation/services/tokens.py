"""Signed tokens: one itsdangerous serializer per purpose, each with its own salt and expiry.

The purpose is the salt, so a token minted to let an author edit a comment can never act as a
moderator's one-click link. Keys rotate: the last configured key signs, all of them verify.
"""

from __future__ import annotations

from typing import Any

from itsdangerous import (
    BadData,
    SignatureExpired,
    Signer,
    URLSafeSerializer,
    URLSafeTimedSerializer,
)

from moderation.config import Settings, SiteSettings
from moderation.errors import TokenExpired, TokenInvalid

AUTHOR_EDIT = "author-edit"
MODERATE_LINK = "moderate-link"
TRACKBACK_URL = "trackback-url"
PRIVACY_REQUEST = "privacy-request"  # a reader confirms their own export or erase request
SUBSCRIPTION_CONFIRM = "subscription-confirm"  # a reader confirms a subscription (double opt-in)
UNSUBSCRIBE = "unsubscribe"  # the unsubscribe link of a notification mail (RFC 8058 one-click)
THREAD_CURSOR = "thread-cursor"  # where the next page of a thread starts (never expires)
READER = "reader"  # a signed-in reader's bearer token (site-bound, revocable by generation)
AUTH_EMAIL = "auth-email"  # the single-use sign-in link of an e-mail provider
AUTH_FLOW = "auth-flow"  # the popup's state, nonce and PKCE verifier, in a cookie on /auth


class Tokens:
    """Mint and check tokens for named purposes."""

    def __init__(self, secret_keys: tuple[str, ...], max_ages: dict[str, int]) -> None:
        self._keys = list(secret_keys)
        self._max_ages = dict(max_ages)
        self._serializers = {p: URLSafeTimedSerializer(self._keys, salt=p) for p in max_ages}
        self._page_signer = Signer(self._keys, salt=TRACKBACK_URL)
        self._cursors = URLSafeSerializer(self._keys, salt=THREAD_CURSOR)

    @classmethod
    def from_settings(cls, settings: Settings) -> Tokens:
        """Tokens for every purpose the service uses, with expiries from the settings."""
        return cls(
            settings.server.secret_key,
            {
                AUTHOR_EDIT: settings.comments.edit_window_seconds,
                MODERATE_LINK: settings.mail.link_max_age_days * 24 * 3600,
                PRIVACY_REQUEST: settings.privacy.link_max_age_hours * 3600,
                SUBSCRIPTION_CONFIRM: settings.notify.confirm_max_age_days * 24 * 3600,
                UNSUBSCRIBE: settings.notify.unsubscribe_max_age_days * 24 * 3600,
                READER: settings.auth.token_max_age_days * 24 * 3600,
                AUTH_EMAIL: settings.auth.email_link_max_age_minutes * 60,
                AUTH_FLOW: settings.auth.flow_max_age_seconds,
            },
        )

    def cursor(self, payload: Any) -> str:
        """A signed, opaque page cursor (it does not expire: a page stays reachable)."""
        return self._cursors.dumps(payload)

    def read_cursor(self, token: str) -> Any:
        """A cursor's payload; `TokenInvalid` for anything this service did not sign."""
        try:
            return self._cursors.loads(token)
        except (BadData, UnicodeError, ValueError):
            raise TokenInvalid("this cursor is not valid") from None

    def sign(self, purpose: str, payload: Any) -> str:
        """A token carrying `payload` for `purpose`."""
        return self._serializer(purpose).dumps(payload)

    def load(self, purpose: str, token: str) -> Any:
        """The payload of a genuine, unexpired token for `purpose`.

        Raises `TokenExpired` when it is genuine but too old, `TokenInvalid` for anything else
        (tampered, another purpose, another key, garbage).
        """
        try:
            return self._serializer(purpose).loads(token, max_age=self._max_ages[purpose])
        except SignatureExpired:
            raise TokenExpired("this link or token has expired") from None
        except (BadData, UnicodeError, ValueError):
            raise TokenInvalid("this link or token is not valid") from None

    def _serializer(self, purpose: str) -> URLSafeTimedSerializer:
        try:
            return self._serializers[purpose]
        except KeyError:
            raise ValueError(f"no token purpose {purpose!r}") from None

    def page_key(self, site: str, uri: str) -> str:
        """The key of page `uri` of `site`'s signed TrackBack URL (TB-D8): an HMAC of the page, so
        a bot cannot make up the ping URL of a page it has not read. Not timed: the page's RDF block
        is pasted once and must keep working; pinging ends when the thread closes."""
        return self._page_signer.get_signature(f"{site}\n{uri}").decode("ascii")

    def check_page_key(self, site: str, uri: str, key: str) -> bool:
        """Whether `key` is page `uri` of `site`'s key under any configured secret key."""
        try:
            return self._page_signer.verify_signature(f"{site}\n{uri}", key)
        except (BadData, UnicodeError, ValueError):
            return False


def ping_key(tokens: Tokens, site: SiteSettings, site_id: str, uri: str) -> str:
    """The key of the page's TrackBack URL when the site signs them (TB-D8), else ""."""
    return tokens.page_key(site_id, uri) if site.signed_trackback_urls else ""
