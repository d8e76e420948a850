"""Typed, complete, checked configuration.

Settings are frozen dataclasses, one per TOML section. `load_settings` reads a TOML file, applies the
environment overrides for secrets, and refuses unknown keys, wrong types and missing required keys with a
message that names the key. This is the only module that reads ``os.environ``.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

POLICIES = ("all", "first-time", "none")
REQUIRED = {"required": True}


class ConfigError(Exception):
    """The configuration is unusable; the message names the offending key."""


@dataclass(frozen=True)
class ServerSettings:
    """``[server]``: how the service runs and presents itself."""

    secret_key: tuple[str, ...] = field(default=(), metadata=REQUIRED)
    public_url: str = field(default="", metadata=REQUIRED)
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 2
    threads: int = 16  # a post waiting on a slow Akismet holds one for the whole timeout
    data_dir: str = "var"
    max_body_bytes: int = 524288
    demo_site: str = ""
    log_level: str = "info"
    access_log: bool = True


@dataclass(frozen=True)
class DatabaseSettings:
    """``[database]``: where comments live."""

    url: str = "sqlite:///moderation.db"
    busy_timeout_ms: int = 5000
    pool_size: int = 5


@dataclass(frozen=True)
class SiteSettings:
    """``[sites.<id>]``: one site that embeds the widget."""

    url: str = field(default="", metadata=REQUIRED)
    origins: tuple[str, ...] = field(default=(), metadata=REQUIRED)
    title: str = ""
    moderation: str = "first-time"
    close_after_days: int = 0
    require_author: bool = False
    require_email: bool = False
    gravatar: bool = False
    language: str = "en"
    signed_trackback_urls: bool = False
    votes: str = "up"  # readers' votes on comments: "up" (likes), "up-down", "off"
    page_likes: bool = False  # a "Like" button for the page above its comments
    page_size: int = 50  # top-level comments per page of the widget (each with its replies)
    identity: str = "anonymous"  # readers' sign-in: "anonymous", "optional" or "required"

    def owns(self, url: str) -> bool:
        """True when ``url`` is a page of this site (same scheme, host and port, path below its base)."""
        base, other = urlsplit(self.url), urlsplit(url)
        if (base.scheme, base.netloc.lower()) != (other.scheme, other.netloc.lower()):
            return False
        return other.path.startswith(base.path.rstrip("/") + "/") or other.path == base.path

    def uri_of(self, url: str) -> str:
        """The thread uri (path below the site's base) of one of this site's page URLs."""
        base_path = urlsplit(self.url).path.rstrip("/")
        path = urlsplit(url).path
        return path[len(base_path) :] or "/"

    def page_url(self, uri: str) -> str:
        """The absolute URL of the page a thread belongs to."""
        return self.url.rstrip("/") + "/" + uri.lstrip("/")


@dataclass(frozen=True)
class CommentSettings:
    """``[comments]``: limits on what readers may post and change."""

    edit_window_seconds: int = 900
    max_text_bytes: int = 65525
    max_author_bytes: int = 245
    max_email_bytes: int = 100
    max_website_bytes: int = 200
    max_title_chars: int = 512
    max_edits: int = 10  # edits per comment (each is scored and stored); then 409 too_many_edits
    signed_in_edit_days: int = (
        30  # a signed-in reader edits and deletes their own comments this long
    )


@dataclass(frozen=True)
class GuardSettings:
    """``[guard]``: rate and flood limits."""

    rate_limit: str = "10 per minute"
    edit_rate_limit: str = "10 per minute"  # PATCHes of comments per client IP
    flood_seconds: int = 15
    votes_per_ip_per_day: int = 20  # votes on one comment (and likes of one page) from one IP
    trusted_proxies: tuple[str, ...] = ()


@dataclass(frozen=True)
class SpamSettings:
    """``[spam]``: the local scorer, its starting lists, and how long rejected comments are kept."""

    unsure_threshold: float = 1.0
    spam_threshold: float = 5.0
    classifier: bool = True
    max_links: int = 2
    count_website_as_link: bool = True  # the website is one of `max_links` (WordPress: a filter's)
    moderation_keys: tuple[str, ...] = ()
    disallowed_keys: tuple[str, ...] = ()
    blocked_ips: tuple[str, ...] = ()
    blocked_emails: tuple[str, ...] = ()
    blocked_domains: tuple[str, ...] = ()
    purge_spam_days: int = 30
    purge_discarded_days: int = 1
    purge_deleted_days: int = 30
    retry_base_seconds: int = 60
    retry_max_seconds: int = 21600
    max_false_positive_share: float = 0.005
    decision_reserve: int = 1000
    repeat_window_days: int = 30


@dataclass(frozen=True)
class AkismetSettings:
    """``[akismet]``: the optional third-party scorer."""

    key: str = ""
    endpoint: str = "https://rest.akismet.com/1.1/"
    timeout: float = 3.0


@dataclass(frozen=True)
class FetchSettings:
    """``[fetch]``: the one hardened outbound fetcher."""

    allow_private: bool = False
    timeout: float = 5.0
    max_bytes: int = 1048576


@dataclass(frozen=True)
class MailSettings:
    """``[mail]``: moderator notifications."""

    smtp_host: str = "localhost"
    smtp_port: int = 25
    sender: str = "comments@example.org"
    moderators: tuple[str, ...] = ()
    notify: str = "held"
    username: str = ""
    password: str = ""
    starttls: bool = False
    link_max_age_days: int = 7
    timeout: float = 10.0  # seconds, for connecting and for every SMTP command
    digest_minutes: int = 60  # notify = "digest": one mail of the held comments this often
    max_attempts: int = 12  # a mail that failed this many times is a dead letter (admins retry it)


@dataclass(frozen=True)
class JobsSettings:
    """``[jobs]``: the background queue."""

    backend: str = "sqlite"
    immediate: bool = False
    embedded_consumer: bool = True
    # Each kind of job has threads of its own, so a hanging SMTP server cannot hold up linkback
    # verification or Akismet (moderation.runtime.jobs).
    mail_threads: int = 1
    akismet_threads: int = 2
    fetch_threads: int = 2
    # The consumer touches a heartbeat this often; /readyz fails when it is older than the limit.
    heartbeat_seconds: int = 5
    heartbeat_max_age_seconds: int = 60


@dataclass(frozen=True)
class RedisSettings:
    """``[redis]``: shared rate limits, cache and jobs across nodes."""

    url: str = ""


@dataclass(frozen=True)
class NotifySettings:
    """``[notify]``: readers' reply notifications and page subscriptions."""

    # At most one mail per subscription this often; comments approved meanwhile go in the next.
    min_interval_minutes: int = 15
    confirm_max_age_days: int = 7  # the confirmation link works once, this long
    unsubscribe_max_age_days: int = 3650  # unsubscribe links in notification mails
    confirmations_per_address_per_day: int = 3
    confirmations_per_ip_per_hour: int = 10


@dataclass(frozen=True)
class PrivacySettings:
    """``[privacy]``: how long personal data the service needs only for a while is kept."""

    # Client IPs and user agents (of comments and of their spam checks) are blanked after this
    # many days; 0 keeps them.
    ip_retention_days: int = 30
    # Readers' own requests (``/privacy/``, linked from the widget): how many a day may be made for
    # one address and an hour from one client IP, and how long the confirmation link in the mail
    # works (at most ``[mail] link_max_age_days``, which is how long spent links are remembered).
    requests_per_address_per_day: int = 3
    requests_per_ip_per_hour: int = 10
    link_max_age_hours: int = 24


PROVIDER_KINDS = ("oidc", "github", "email")
IDENTITIES = ("anonymous", "optional", "required")


@dataclass(frozen=True)
class ProviderSettings:
    """``[auth.providers.<id>]``: one way for readers to sign in (no reader has a password here)."""

    kind: str = field(default="", metadata=REQUIRED)  # "oidc", "github" or "email"
    name: str = ""  # the button's label (default: the id)
    issuer: str = ""  # oidc: discovery at <issuer>/.well-known/openid-configuration
    client_id: str = ""
    client_secret: str = ""  # or MODERATION_AUTH_<ID>_CLIENT_SECRET in the environment
    # github: where its authorize/access_token pages and its API are (a local fake in tests)
    github_url: str = "https://github.com"
    api_url: str = "https://api.github.com"


@dataclass(frozen=True)
class AuthSettings:
    """``[auth]``: readers signing in with an outside identity (``[auth.providers.<id>]``)."""

    token_max_age_days: int = 30  # a reader token works this long (sign-out revokes it sooner)
    flow_max_age_seconds: int = 600  # the popup's round trip to the provider must end within this
    email_link_max_age_minutes: int = 30  # the sign-in link of an e-mail provider
    rate_limit: str = "30 per minute"  # sign-in starts and callbacks per client IP
    timeout: float = 5.0  # seconds, for each request to a provider
    providers: Mapping[str, ProviderSettings] = field(default_factory=dict)


@dataclass(frozen=True)
class MetricsSettings:
    """``[metrics]``: who may read ``GET /metrics`` (Prometheus' text format)."""

    allow: tuple[str, ...] = ("127.0.0.1", "::1")  # addresses or networks, behind trusted_proxies
    token: str = ""  # or any client sending "Authorization: Bearer <token>"


@dataclass(frozen=True)
class Settings:
    """The whole configuration."""

    server: ServerSettings
    database: DatabaseSettings = DatabaseSettings()
    sites: Mapping[str, SiteSettings] = field(default_factory=dict)
    comments: CommentSettings = CommentSettings()
    guard: GuardSettings = GuardSettings()
    spam: SpamSettings = SpamSettings()
    akismet: AkismetSettings = AkismetSettings()
    fetch: FetchSettings = FetchSettings()
    mail: MailSettings = MailSettings()
    jobs: JobsSettings = JobsSettings()
    redis: RedisSettings = RedisSettings()
    privacy: PrivacySettings = PrivacySettings()
    notify: NotifySettings = NotifySettings()
    auth: AuthSettings = AuthSettings()
    metrics: MetricsSettings = MetricsSettings()

    @property
    def data_path(self) -> Path:
        """The folder for local state files (rate-limit counters, the embedded job queue)."""
        return Path(self.server.data_dir)


SECTIONS: dict[str, type] = {
    "server": ServerSettings,
    "database": DatabaseSettings,
    "comments": CommentSettings,
    "guard": GuardSettings,
    "spam": SpamSettings,
    "akismet": AkismetSettings,
    "fetch": FetchSettings,
    "mail": MailSettings,
    "jobs": JobsSettings,
    "redis": RedisSettings,
    "privacy": PrivacySettings,
    "notify": NotifySettings,
    "metrics": MetricsSettings,
}

# Environment variables that may carry secrets (and the database URL, for containers).
ENVIRONMENT = {
    "MODERATION_SECRET_KEY": ("server", "secret_key"),
    "MODERATION_DATABASE_URL": ("database", "url"),
    "PYTHON_AKISMET_API_KEY": ("akismet", "key"),
    "MODERATION_AKISMET_KEY": ("akismet", "key"),
    "MODERATION_SMTP_PASSWORD": ("mail", "password"),
    "MODERATION_REDIS_URL": ("redis", "url"),
    "MODERATION_METRICS_TOKEN": ("metrics", "token"),
}


def config_path(explicit: str | None, environ: Mapping[str, str] | None = None) -> Path:
    """The config file: ``--config``, else ``MODERATION_CONFIG``, else ``./config.toml``."""
    environ = os.environ if environ is None else environ
    return Path(explicit or environ.get("MODERATION_CONFIG") or "config.toml")


def load_settings(path: str | Path, environ: Mapping[str, str] | None = None) -> Settings:
    """Read and check a TOML config file; raise `ConfigError` naming the bad key."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            raw = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return settings_from_mapping(raw, os.environ if environ is None else environ)


def settings_from_mapping(raw: Mapping[str, Any], environ: Mapping[str, str] = {}) -> Settings:
    """Build `Settings` from parsed TOML (tests pass dicts straight in)."""
    raw = {k: dict(v) if isinstance(v, Mapping) else v for k, v in raw.items()}
    for var, (section, key) in ENVIRONMENT.items():
        if environ.get(var):
            raw.setdefault(section, {})[key] = environ[var]
    unknown = set(raw) - set(SECTIONS) - {"sites", "auth"}
    if unknown:
        raise ConfigError(f"unknown section [{sorted(unknown)[0]}]")
    values: dict[str, Any] = {
        name: _build(cls, raw.get(name, {}), f"[{name}]") for name, cls in SECTIONS.items()
    }
    values["sites"] = _build_sites(raw.get("sites", {}))
    values["auth"] = _build_auth(raw.get("auth", {}), environ)
    settings = Settings(**values)
    _check(settings)
    return settings


def _build_sites(raw: Any) -> dict[str, SiteSettings]:
    if not isinstance(raw, Mapping):
        raise ConfigError("[sites] must be a table of [sites.<id>] tables")
    sites = {}
    for site_id, table in raw.items():
        if not site_id.replace("-", "").replace("_", "").isalnum():
            raise ConfigError(f"[sites.{site_id}]: a site id is letters, digits, '-' and '_'")
        sites[site_id] = _build(SiteSettings, table, f"[sites.{site_id}]")
    return sites


def _build_auth(raw: Any, environ: Mapping[str, str]) -> AuthSettings:
    """``[auth]`` and its ``[auth.providers.<id>]`` tables; a provider's client secret may come
    from ``MODERATION_AUTH_<ID>_CLIENT_SECRET`` (the id upper-cased, '-' as '_')."""
    if not isinstance(raw, Mapping):
        raise ConfigError("[auth] must be a table")
    table = dict(raw)
    providers_raw = table.pop("providers", {})
    if not isinstance(providers_raw, Mapping):
        raise ConfigError("[auth.providers] must be a table of [auth.providers.<id>] tables")
    providers = {}
    for provider_id, entry in providers_raw.items():
        where = f"[auth.providers.{provider_id}]"
        if not provider_id.replace("-", "").replace("_", "").isalnum():
            raise ConfigError(f"{where}: a provider id is letters, digits, '-' and '_'")
        if not isinstance(entry, Mapping):
            raise ConfigError(f"{where} must be a table")
        entry = dict(entry)
        var = f"MODERATION_AUTH_{provider_id.upper().replace('-', '_')}_CLIENT_SECRET"
        if environ.get(var):
            entry["client_secret"] = environ[var]
        providers[provider_id] = _build(ProviderSettings, entry, where)
    auth: AuthSettings = _build(AuthSettings, table, "[auth]")
    return dataclasses.replace(auth, providers=providers)


def _build(cls: type, table: Any, where: str) -> Any:
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where} must be a table")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    for key in table:
        if key not in known:
            raise ConfigError(f"unknown key {where} {key}")
    kwargs = {}
    for name, fld in known.items():
        if name in table:
            kwargs[name] = _coerce(table[name], hints[name], f"{where} {name}")
        elif fld.metadata.get("required"):
            raise ConfigError(f"missing required key {where} {name}")
    return cls(**kwargs)


def _coerce(value: Any, hint: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if origin is tuple:  # tuple[str, ...]; a single string is accepted as a one-item list
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where} must be a list of strings")
        return tuple(value)
    if origin in (typing.Union, types.UnionType):
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is int and isinstance(value, str) and value.isdigit():
        return int(value)
    if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
        raise ConfigError(f"{where} must be {hint.__name__}, not {type(value).__name__}")
    return value


def _check(settings: Settings) -> None:
    server = settings.server
    if not all(server.secret_key) or any(len(k) < 16 for k in server.secret_key):
        raise ConfigError("[server] secret_key: every key must be at least 16 characters")
    _check_url(server.public_url, "[server] public_url")
    if not settings.sites:
        raise ConfigError("missing required table [sites.<id>]: configure at least one site")
    for site_id, site in settings.sites.items():
        _check_url(site.url, f"[sites.{site_id}] url")
        for origin in site.origins:
            _check_url(origin, f"[sites.{site_id}] origins")
        if site.moderation not in POLICIES:
            raise ConfigError(f"[sites.{site_id}] moderation must be one of {', '.join(POLICIES)}")
        if site.votes not in ("up", "up-down", "off"):
            raise ConfigError(f"[sites.{site_id}] votes must be one of up, up-down, off")
        if not 1 <= site.page_size <= 500:
            raise ConfigError(f"[sites.{site_id}] page_size must be between 1 and 500")
    _check_auth(settings)
    if server.demo_site and server.demo_site not in settings.sites:
        raise ConfigError(f"[server] demo_site names an unknown site {server.demo_site!r}")
    for where, entries in (
        ("[guard] trusted_proxies", settings.guard.trusted_proxies),
        ("[metrics] allow", settings.metrics.allow),
    ):
        for entry in entries:
            try:  # (the web layer parses them again; a typo must stop the start, not a request)
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ConfigError(f"{where}: {entry!r} is not an address or network") from None
    if settings.metrics.token and len(settings.metrics.token) < 16:
        raise ConfigError("[metrics] token: at least 16 characters (or empty: no token)")
    if settings.mail.notify not in ("held", "all", "digest", "none"):
        raise ConfigError("[mail] notify must be one of held, all, digest, none")
    if settings.mail.digest_minutes < 1 or settings.mail.max_attempts < 1:
        raise ConfigError("[mail] digest_minutes and max_attempts must be at least 1")
    for key in (
        "min_interval_minutes",
        "confirm_max_age_days",
        "unsubscribe_max_age_days",
        "confirmations_per_address_per_day",
        "confirmations_per_ip_per_hour",
    ):
        if getattr(settings.notify, key) < (0 if key == "min_interval_minutes" else 1):
            raise ConfigError(f"[notify] {key} is too small")

    if settings.privacy.ip_retention_days < 0:
        raise ConfigError("[privacy] ip_retention_days must be 0 (keep) or more")
    for key in ("requests_per_address_per_day", "requests_per_ip_per_hour"):
        if getattr(settings.privacy, key) < 1:
            raise ConfigError(f"[privacy] {key} must be at least 1")
    if not 1 <= settings.privacy.link_max_age_hours <= settings.mail.link_max_age_days * 24:
        raise ConfigError(
            "[privacy] link_max_age_hours must be at least 1 and at most [mail] link_max_age_days"
            " in hours (spent links are remembered that long)"
        )
    if settings.mail.timeout <= 0:
        raise ConfigError("[mail] timeout must be more than 0 seconds")
    if settings.mail.link_max_age_days < 1:
        raise ConfigError("[mail] link_max_age_days must be at least 1")
    if not 0 <= settings.spam.max_false_positive_share < 1:
        raise ConfigError("[spam] max_false_positive_share must be at least 0 and below 1")
    if settings.spam.decision_reserve < 1:
        raise ConfigError("[spam] decision_reserve must be at least 1")
    if settings.spam.repeat_window_days < 0:
        raise ConfigError("[spam] repeat_window_days must be 0 (off) or more")
    if settings.jobs.backend not in ("sqlite", "redis"):
        raise ConfigError("[jobs] backend must be sqlite or redis")
    if settings.jobs.backend == "redis" and not settings.redis.url:
        raise ConfigError("[jobs] backend = 'redis' needs [redis] url")
    for lane in ("mail", "akismet", "fetch"):
        if getattr(settings.jobs, f"{lane}_threads") < 1:
            raise ConfigError(f"[jobs] {lane}_threads must be at least 1")
    if not 0 < settings.jobs.heartbeat_seconds < settings.jobs.heartbeat_max_age_seconds:
        raise ConfigError("[jobs] needs 0 < heartbeat_seconds < heartbeat_max_age_seconds")
    _check_rate(settings.guard.rate_limit)
    _check_rate(settings.guard.edit_rate_limit, "edit_rate_limit")
    if settings.comments.max_edits < 0:
        raise ConfigError("[comments] max_edits must be 0 or more")
    if not 0 < settings.spam.unsure_threshold <= settings.spam.spam_threshold:
        raise ConfigError("[spam] needs 0 < unsure_threshold <= spam_threshold")
    _check_extras(settings)


def _check_auth(settings: Settings) -> None:
    """Each provider has what its kind needs; a site that needs sign-in has a way to do it."""
    auth = settings.auth
    for provider_id, provider in auth.providers.items():
        where = f"[auth.providers.{provider_id}]"
        if provider.kind not in PROVIDER_KINDS:
            raise ConfigError(f"{where} kind must be one of {', '.join(PROVIDER_KINDS)}")
        if provider.kind in ("oidc", "github"):
            for key in ("client_id", "client_secret"):
                if not getattr(provider, key):
                    raise ConfigError(f"missing required key {where} {key}")
        if provider.kind == "oidc":
            if not provider.issuer:
                raise ConfigError(f"missing required key {where} issuer")
            _check_provider_url(provider.issuer, f"{where} issuer")
        if provider.kind == "github":
            _check_provider_url(provider.github_url, f"{where} github_url")
            _check_provider_url(provider.api_url, f"{where} api_url")
    if auth.token_max_age_days < 1 or auth.flow_max_age_seconds < 30:
        raise ConfigError("[auth] token_max_age_days must be >= 1, flow_max_age_seconds >= 30")
    if auth.email_link_max_age_minutes < 1 or auth.timeout <= 0:
        raise ConfigError("[auth] email_link_max_age_minutes and timeout must be positive")
    _check_rate(auth.rate_limit, "rate_limit", "[auth]")
    if settings.comments.signed_in_edit_days < 0:
        raise ConfigError("[comments] signed_in_edit_days must be 0 or more")
    for site_id, site in settings.sites.items():
        if site.identity not in IDENTITIES:
            raise ConfigError(f"[sites.{site_id}] identity must be one of {', '.join(IDENTITIES)}")
        if site.identity == "required" and not auth.providers:
            raise ConfigError(
                f"[sites.{site_id}] identity = 'required' needs at least one [auth.providers.<id>]"
            )


def _check_provider_url(url: str, where: str) -> None:
    """https, or http to this machine only (a provider on loopback, for tests and development):
    tokens and client secrets never cross a network in the clear."""
    _check_url(url, where)
    parts = urlsplit(url)
    if parts.scheme == "http" and parts.hostname not in ("localhost", "127.0.0.1", "::1"):
        raise ConfigError(f"{where} must be https (http only to localhost), not {url!r}")


def _check_extras(settings: Settings) -> None:
    """PostgreSQL and Redis need client libraries that a plain install leaves out."""
    if urlsplit(settings.database.url).scheme.startswith("postgresql") and not find_spec("psycopg"):
        raise ConfigError(
            "[database] url is PostgreSQL, whose driver (psycopg) is not installed: "
            "pip install 'moderation[postgres]'"
        )
    if settings.redis.url and not find_spec("redis"):
        raise ConfigError(
            "[redis] url is set, but the redis client is not installed: "
            "pip install 'moderation[redis]'"
        )


def _check_url(url: str, where: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{where} must be an absolute http(s) URL, not {url!r}")


def _check_rate(rate: str, key: str = "rate_limit", section: str = "[guard]") -> None:
    from limits import parse_many  # local: keeps `config` importable without the web stack

    try:
        parse_many(rate)
    except ValueError:
        raise ConfigError(f"{section} {key} is not a rate like '10 per minute': {rate!r}") from None
