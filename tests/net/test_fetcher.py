"""The hardened fetcher, against real HTTP(S) servers on 127.0.0.1.

Network rule: nothing here may reach beyond loopback. The autouse `network` fixture (see
`tests.fakes.web_site.guard_network`) fails a test that tries to connect anywhere else or to look up
a name; fetches of ``public.test`` (1.2.3.4 in the fake DNS) are diverted to the loopback server.
"""

from __future__ import annotations

import functools
import gzip
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator

import pytest

from moderation.config import FetchSettings
from moderation.net.fetcher import Fetcher
from moderation.net.guarded import (
    BadScheme,
    BadUrl,
    BlockedAddress,
    FetchFailed,
    HostRateLimited,
    NotHtml,
    Timeout,
    TooLarge,
    TooManyRedirects,
    is_public_address,
)
from tests.fakes.web_site import (
    DNS,
    MB,
    OTHER_PUBLIC,
    PUBLIC,
    FakeSite,
    Handler,
    Network,
    chain,
    default_dns,
    drip_body,
    drip_headers,
    guard_network,
    huge,
    loop,
    redirect,
    send,
    silent,
)

PAGE = b"<!doctype html><title>Source</title><a href='https://blog.example.org/post'>post</a>"


@pytest.fixture(autouse=True)
def network(monkeypatch) -> Network:
    return guard_network(monkeypatch)


@pytest.fixture
def dns() -> DNS:
    return default_dns()


def fetcher(dns: DNS, *, timeout: float = 3.0, max_bytes: int = MB, **kwargs) -> Fetcher:
    settings = FetchSettings(allow_private=False, timeout=timeout, max_bytes=max_bytes)
    return Fetcher(settings, resolver=dns, **kwargs)


# --- the site ------------------------------------------------------------------------------


@functools.cache
def bomb() -> bytes:
    """20 MB of HTML, gzipped to about 20 KB."""
    return gzip.compress(b"<html>" + b" " * (20 * MB))


ROUTES: dict[str, Callable[[Handler], None]] = {
    "/page": lambda h: send(h, body=PAGE, ctype="text/html; charset=utf-8"),
    "/xhtml": lambda h: send(h, body=PAGE, ctype="application/xhtml+xml"),
    "/redirect": redirect,
    "/loop": loop,
    "/chain": lambda h: chain(h, PAGE),
    "/drip-body": drip_body,
    "/drip-headers": drip_headers,
    "/silent": silent,
    "/huge": huge,
    "/bomb": lambda h: send(h, body=bomb(), Content_Encoding="gzip"),
    "/json": lambda h: send(h, body=b"{}", ctype="application/json"),
    "/png": lambda h: send(h, body=b"\x89PNG", ctype="image/png"),
    "/untyped": lambda h: send(h, body=PAGE, ctype=""),
    "/gone": lambda h: send(h, 410, b"<p>gone for good</p>"),
    "/plain-404": lambda h: send(h, 404, b"no such page", ctype="text/plain"),
    "/latin1": lambda h: send(
        h,
        body="<p>Iñtërnâtiônàlizætiøn</p>".encode("latin-1"),
        ctype="text/html; charset=ISO-8859-1",
    ),
    "/meta": lambda h: send(h, body=b'<meta charset="windows-1252"><p>caf\xe9 \x93hi\x94</p>'),
    "/http-equiv": lambda h: send(
        h, body=b'<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-15">\xa4'
    ),
    "/bad-utf8": lambda h: send(h, body=b"<p>ok \xff</p>"),
    "/utf7": lambda h: send(h, body=b"+ADw-script+AD4-", ctype="text/html; charset=utf-7"),
    "/bom": lambda h: send(h, body="\ufeff<p>é</p>".encode(), ctype="text/html; charset=latin-1"),
}


@pytest.fixture
def site() -> Iterator[FakeSite]:
    with FakeSite(ROUTES) as site:
        yield site


# --- is_public_address -------------------------------------------------------------------------


@pytest.mark.parametrize("ip", ["1.2.3.4", "8.8.8.8", "2606:4700:4700::1111", "64:ff9b::808:808"])
def test_is_public_address_global_unicast_true(ip):
    assert is_public_address(ip)


@pytest.mark.parametrize(
    "ip",
    [
        *("127.0.0.1", "127.8.9.10", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254"),
        *("100.64.0.1", "0.0.0.0", "0.1.2.3", "224.0.0.1", "240.0.0.1", "255.255.255.255"),
        *("192.0.2.1", "198.18.0.1", "::1", "::", "fe80::1", "fc00::1", "fd12:3456::1"),
        *("ff02::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254"),
        *("64:ff9b::a00:1", "2002:a00:1::", "2001:db8::1", "::127.0.0.1", "not-an-ip", ""),
    ],
)
def test_is_public_address_special_purpose_false(ip):
    assert not is_public_address(ip)


# --- the SSRF guard, before any connection ------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/page",
        "http://10.1.2.3/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:{port}/page",
        "http://[::ffff:127.0.0.1]:{port}/page",
        "http://0.0.0.0:{port}/page",
        "http://100.64.0.1/",
        "http://[fd00::1]/",
        "https://192.168.0.1/",
        "http://intranet.test/",
        "http://mixed.test:{port}/page",
    ],
)
def test_fetch_non_public_address_refused_without_connecting(url, site, dns, network):
    with pytest.raises(BlockedAddress):
        fetcher(dns).fetch(url.format(port=site.port))
    assert network.connects == []
    assert site.requests == []


def test_fetch_numeric_host_forms_are_resolved_then_refused(site, network):
    # 2130706433 is 127.0.0.1 to inet_aton(); the system resolver says so, and the guard refuses it.
    with pytest.raises(BlockedAddress):
        Fetcher(FetchSettings()).fetch(f"http://2130706433:{site.port}/page")
    assert network.lookups == ["2130706433"]
    assert network.connects == []


@pytest.mark.parametrize(
    "url",
    [
        "ftp://public.test/file",
        "file:///etc/passwd",
        "gopher://public.test:70/",
        "javascript:alert(1)",
        "data:text/html,<p>hi</p>",
        "not a url",
    ],
)
def test_fetch_other_schemes_refused(url, dns, network):
    with pytest.raises(BadScheme):
        fetcher(dns).fetch(url)
    assert dns.calls == []
    assert network.connects == []


@pytest.mark.parametrize("url", ["http://user:pw@public.test/page", "http:///page"])
def test_fetch_url_with_credentials_or_without_host_refused(url, dns, network):
    with pytest.raises(BadUrl):
        fetcher(dns).fetch(url)
    assert network.connects == []


def test_fetch_port_outside_allowed_ports_refused(site, dns, network):
    with pytest.raises(BlockedAddress, match="port"):
        fetcher(dns, allowed_ports={80, 443}).fetch(site.url("/page"))
    assert network.connects == []


@pytest.mark.parametrize("host", ["unknown.test", "empty.test"])
def test_fetch_unresolvable_host_fails(host, dns):
    with pytest.raises(FetchFailed, match=host):
        fetcher(dns).fetch(f"http://{host}/")


# --- pinning -------------------------------------------------------------------------------


def test_fetch_connects_to_the_checked_address_and_keeps_the_name(site, dns, network):
    dns.rebind("public.test", ["127.0.0.1"])  # a second lookup would get this; there is none
    result = fetcher(dns).fetch(site.url("/page"))

    assert (result.status, result.text, result.content_type) == (200, PAGE.decode(), "text/html")
    assert result.url == site.url("/page")
    assert dns.calls == [("public.test", site.port)]
    assert network.connects == [(PUBLIC, site.port)]
    assert "public.test" not in network.lookups  # httpcore never resolved the name itself
    seen = site.requests[0].headers
    assert seen["Host"] == f"public.test:{site.port}"
    assert seen["User-Agent"].startswith("moderation/")
    assert seen["Cookie"] is None


def test_fetch_dns_rebinding_between_hops_refused(site, dns, network):
    dns.rebind("public.test", ["127.0.0.1"])
    with pytest.raises(BlockedAddress, match=r"127\.0\.0\.1"):
        fetcher(dns).fetch(site.url("/redirect?to=/page"))
    assert dns.calls == [("public.test", site.port)] * 2  # once per hop, never more
    assert network.connects == [(PUBLIC, site.port)]


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[str, str]:
    """A self-signed certificate for public.test (the openssl command line makes it)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("needs the openssl command to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = str(folder / "cert.pem"), str(folder / "key.pem")
    subprocess.run(
        [
            *(openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
            *("-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=public.test"),
            *("-addext", "subjectAltName=DNS:public.test"),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
def tls_site(certificate) -> Iterator[FakeSite]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    with FakeSite(ROUTES, tls=context) as site:
        yield site


def test_fetch_https_pinned_with_sni_and_certificate_for_the_name(
    tls_site, certificate, dns, network
):
    trust = ssl.create_default_context(cafile=certificate[0])
    result = fetcher(dns, ssl_context=trust).fetch(tls_site.url("/page", scheme="https"))

    assert result.status == 200
    assert tls_site.sni == ["public.test"]
    assert network.connects == [(PUBLIC, tls_site.port)]


def test_fetch_https_certificate_for_another_name_fails(tls_site, certificate, dns, network):
    trust = ssl.create_default_context(cafile=certificate[0])
    with pytest.raises(FetchFailed, match="CERTIFICATE_VERIFY_FAILED"):
        fetcher(dns, ssl_context=trust).fetch(
            tls_site.url("/page", host="other.test", scheme="https")
        )
    assert network.connects == [(OTHER_PUBLIC, tls_site.port)]


def test_fetch_allow_private_reaches_loopback(site):
    result = Fetcher(FetchSettings(allow_private=True)).fetch(f"http://127.0.0.1:{site.port}/page")
    assert result.status == 200
    assert site.requests[0].headers["Host"] == f"127.0.0.1:{site.port}"


def test_fetch_connection_refused_fails():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(FetchFailed):
        Fetcher(FetchSettings(allow_private=True)).fetch(f"http://127.0.0.1:{port}/")


# --- redirects -------------------------------------------------------------------------------


def test_fetch_follows_redirect_without_sending_cookies(site, dns):
    result = fetcher(dns).fetch(site.url("/redirect?to=/page"))

    assert result.url == site.url("/page")
    assert result.redirects == (site.url("/redirect?to=/page"),)
    assert [r.path for r in site.requests] == ["/redirect?to=/page", "/page"]
    assert site.requests[1].headers["Cookie"] is None


@pytest.mark.parametrize(
    "to",
    [
        "http://127.0.0.1:{port}/page",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.1.2.3/",
        "http://[::1]:{port}/page",
        "http://[::ffff:127.0.0.1]:{port}/page",
        "http://intranet.test/",
    ],
)
def test_fetch_redirect_to_non_public_address_refused_at_the_hop(to, site, dns, network):
    to = to.format(port=site.port)
    with pytest.raises(BlockedAddress) as refused:
        fetcher(dns).fetch(site.url(f"/redirect?to={to}"))
    assert refused.value.url == to
    assert network.connects == [(PUBLIC, site.port)]
    assert len(site.requests) == 1


@pytest.mark.parametrize("to", ["file:///etc/passwd", "gopher://public.test:70/", "ftp://x.test/"])
def test_fetch_redirect_to_other_scheme_refused(to, site, dns):
    with pytest.raises(BadScheme):
        fetcher(dns).fetch(site.url(f"/redirect?to={to}"))


def test_fetch_five_redirects_followed(site, dns):
    result = fetcher(dns).fetch(site.url("/chain?n=5"))
    assert result.status == 200
    assert len(result.redirects) == 5


def test_fetch_more_than_five_redirects_refused(site, dns):
    with pytest.raises(TooManyRedirects):
        fetcher(dns).fetch(site.url("/loop"))
    assert len(site.requests) == 6  # the first request and five redirects followed


# --- time limits ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/drip-body", "/drip-headers"])
def test_fetch_slow_drip_cut_off_by_the_deadline(path, site, dns):
    # A byte every 0.3 s keeps a 1 s read timeout happy forever; only the deadline stops it.
    start = time.monotonic()
    with pytest.raises(Timeout):
        fetcher(dns, timeout=1.0, read_timeout=1.0).fetch(site.url(path))
    assert 0.9 < time.monotonic() - start < 2.5


def test_fetch_silent_server_cut_off_by_the_read_timeout(site, dns):
    start = time.monotonic()
    with pytest.raises(Timeout):
        fetcher(dns, read_timeout=0.3).fetch(site.url("/silent"))
    assert time.monotonic() - start < 1.5


# --- size limits ---------------------------------------------------------------------------


def test_fetch_huge_page_truncated_at_the_cap(site, dns):
    result = fetcher(dns).fetch(site.url("/huge"))

    assert result.truncated
    assert len(result.text) == MB
    assert site.huge_done.wait(5)
    assert site.huge_sent < 25 * MB  # we hung up: the server never had to send 50 MB


@pytest.mark.parametrize("query", ["", "?length=no"])
def test_fetch_huge_page_refused_when_asked(query, site, dns):
    with pytest.raises(TooLarge):
        fetcher(dns, refuse_oversize=True).fetch(site.url("/huge" + query))


def test_fetch_gzip_bomb_decoded_only_up_to_the_cap(site, dns):
    result = fetcher(dns, max_bytes=100_000).fetch(site.url("/bomb"))
    assert result.truncated
    assert len(result.text) == 100_000


# --- content types, statuses and charsets ----------------------------------------------------


@pytest.mark.parametrize("path", ["/json", "/png", "/untyped"])
def test_fetch_non_html_refused(path, site, dns):
    with pytest.raises(NotHtml):
        fetcher(dns).fetch(site.url(path))


def test_fetch_xhtml_accepted(site, dns):
    assert fetcher(dns).fetch(site.url("/xhtml")).content_type == "application/xhtml+xml"


@pytest.mark.parametrize(
    ("path", "status", "text"),
    [("/gone", 410, "<p>gone for good</p>"), ("/plain-404", 404, ""), ("/nowhere", 404, "nothing")],
)
def test_fetch_error_status_returned_not_raised(path, status, text, site, dns):
    result = fetcher(dns).fetch(site.url(path))
    assert result.status == status
    assert text in result.text


@pytest.mark.parametrize(
    ("path", "text", "encoding"),
    [
        ("/latin1", "Iñtërnâtiônàlizætiøn", "iso8859-1"),
        ("/meta", "café “hi”", "cp1252"),
        ("/http-equiv", "€", "iso8859-15"),
        ("/bad-utf8", "ok \ufffd", "utf-8"),
        ("/utf7", "+ADw-script+AD4-", "utf-8"),  # never UTF-7: it would decode to <script>
        ("/bom", "<p>é</p>", "utf-8"),  # a BOM beats the header, as in browsers
    ],
)
def test_fetch_decodes_with_the_declared_or_meta_charset(path, text, encoding, site, dns):
    result = fetcher(dns).fetch(site.url(path))
    assert text in result.text
    assert result.encoding == encoding


# --- per-host rate limit ---------------------------------------------------------------------


def test_fetch_per_host_rate_limit(site, dns, network):
    now = [1000.0]
    limited = fetcher(dns, per_host_per_minute=2, clock=lambda: now[0])
    url = site.url("/page")
    limited.fetch(url)
    limited.fetch(url)

    with pytest.raises(HostRateLimited) as refused:
        limited.fetch(url)
    assert refused.value.retry_after == pytest.approx(30)
    assert len(network.connects) == 2
    assert limited.fetch(site.url("/page", host="other.test")).status == 200  # its own bucket

    now[0] += 30  # one fetch's worth of tokens back
    assert limited.fetch(url).status == 200
    with pytest.raises(HostRateLimited):
        limited.fetch(url)


@pytest.mark.parametrize("label", ["base64", "rot13", "zlib", "hex", "utf-7", "no-such-charset"])
def test_codec_refuses_labels_that_are_not_text_charsets(label):
    from moderation.net.fetcher import _codec

    assert _codec(label) is None
