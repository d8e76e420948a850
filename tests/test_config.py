from pathlib import Path

import pytest

from moderation.config import ConfigError, config_path, load_settings, settings_from_mapping

MINIMAL = {
    "server": {"secret_key": "0123456789abcdef0123", "public_url": "https://c.example.org"},
    "sites": {"blog": {"url": "https://blog.example.org", "origins": ["https://blog.example.org"]}},
}


def with_(**sections):
    raw = {k: dict(v) for k, v in MINIMAL.items()}
    raw["sites"] = {"blog": dict(MINIMAL["sites"]["blog"])}
    for name, table in sections.items():
        raw.setdefault(name, {}).update(table)
    return raw


def test_settings_minimal_config_gets_documented_defaults():
    s = settings_from_mapping(with_())
    assert s.server.secret_key == ("0123456789abcdef0123",)
    assert s.database.url == "sqlite:///moderation.db"
    assert s.sites["blog"].moderation == "first-time"
    assert s.guard.rate_limit == "10 per minute"
    assert s.guard.flood_seconds == 15
    assert s.comments.edit_window_seconds == 900
    assert s.akismet.endpoint == "https://rest.akismet.com/1.1/"
    assert s.fetch.allow_private is False


def test_settings_secret_key_list_allows_rotation():
    s = settings_from_mapping(
        with_(server={"secret_key": ["old-key-0123456789", "new-key-0123456789"]})
    )
    assert s.server.secret_key == ("old-key-0123456789", "new-key-0123456789")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (with_(server={"colour": "blue"}), "unknown key [server] colour"),
        ({**with_(), "extras": {}}, "unknown section [extras]"),
        (with_(guard={"flood_seconds": "soon"}), "[guard] flood_seconds must be int"),
        (
            with_(sites={"blog": {"url": "https://b.example"}}),
            "missing required key [sites.blog] origins",
        ),
        ({"sites": MINIMAL["sites"]}, "missing required key [server] secret_key"),
        (with_(server={"secret_key": "short"}), "at least 16 characters"),
        (
            with_(server={"public_url": "comments.example.org"}),
            "[server] public_url must be an absolute",
        ),
        ({"server": MINIMAL["server"]}, "configure at least one site"),
        (with_(guard={"rate_limit": "lots"}), "[guard] rate_limit is not a rate"),
        (
            with_(guard={"trusted_proxies": [1]}),
            "[guard] trusted_proxies must be a list of strings",
        ),
        (with_(mail={"notify": "sometimes"}), "[mail] notify must be one of"),
        (with_(mail={"timeout": 0}), "[mail] timeout must be more than 0"),
        (with_(jobs={"backend": "redis"}), "needs [redis] url"),
        (with_(server={"demo_site": "nope"}), "unknown site 'nope'"),
    ],
)
def test_settings_bad_config_names_the_key(raw, message):
    with pytest.raises(ConfigError) as info:
        settings_from_mapping(raw)
    assert message in str(info.value)


def test_settings_bad_site_policy_is_refused():
    raw = with_()
    raw["sites"]["blog"]["moderation"] = "sometimes"
    with pytest.raises(ConfigError, match=r"\[sites.blog\] moderation must be one of all"):
        settings_from_mapping(raw)


def test_settings_environment_overrides_secrets():
    raw = with_()
    del raw["server"]["secret_key"]
    env = {
        "MODERATION_SECRET_KEY": "from-the-environment-123",
        "PYTHON_AKISMET_API_KEY": "abc123",
        "MODERATION_DATABASE_URL": "postgresql+psycopg://x@h/db",
    }
    s = settings_from_mapping(raw, env)
    assert s.server.secret_key == ("from-the-environment-123",)
    assert s.akismet.key == "abc123"
    assert s.database.url == "postgresql+psycopg://x@h/db"


def test_load_settings_reads_toml_and_reports_syntax_errors(tmp_path: Path):
    good = tmp_path / "c.toml"
    good.write_text(
        '[server]\nsecret_key = "0123456789abcdef0123"\npublic_url = "https://c.example"\n'
        '[sites.blog]\nurl = "https://b.example"\norigins = ["https://b.example"]\n'
    )
    assert load_settings(good, {}).sites["blog"].url == "https://b.example"
    bad = tmp_path / "bad.toml"
    bad.write_text("[server\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(bad, {})
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(tmp_path / "missing.toml", {})


def test_config_path_prefers_flag_then_environment_then_cwd():
    assert config_path("a.toml", {"MODERATION_CONFIG": "b.toml"}) == Path("a.toml")
    assert config_path(None, {"MODERATION_CONFIG": "b.toml"}) == Path("b.toml")
    assert config_path(None, {}) == Path("config.toml")


def test_config_example_is_complete_and_valid():
    example = Path(__file__).resolve().parents[1] / "config.example.toml"
    settings = load_settings(example, {})
    assert "blog" in settings.sites


def test_site_owns_only_its_own_pages():
    site = settings_from_mapping(with_()).sites["blog"]
    assert site.owns("https://blog.example.org/2010/07/co-production/")
    assert not site.owns("https://blog.example.org.evil.example/x")
    assert not site.owns("http://blog.example.org/x")
    assert site.uri_of("https://blog.example.org/2010/07/x/?q=1") == "/2010/07/x/"
    assert site.page_url("/2010/07/x/") == "https://blog.example.org/2010/07/x/"
