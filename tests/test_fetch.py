"""The guarded client against real HTTPS servers on 127.0.0.1 (trustme CA)."""

from __future__ import annotations

import gzip
import ipaddress
import threading
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import trustme

from hansa.errors import HansaError
from hansa.fetch import GuardedClient, HttpStatusError, check_address, classify_address
from hansa.settings import HttpSettings
from tls_helpers import (
    RunningServer,
    bytes_route,
    drip_route,
    https_server,
    json_route,
    lying_length_route,
    redirect_route,
    write_ca_bundle,
)

# Test names resolve without the network; a name not listed fails like a DNS miss.
FAKE_DNS: dict[str, list[str]] = {
    "localhost": ["127.0.0.1"],
    "node.test": ["127.0.0.1"],
    "other.test": ["127.0.0.1"],
    "intranet.test": ["10.1.2.3"],
    "metadata.test": ["169.254.169.254"],
    "mixed.test": ["93.184.216.34", "192.168.0.10"],
    "mapped.test": ["::ffff:127.0.0.1"],
    "ula.test": ["fd00::1"],
}


def fake_resolver(host: str, port: int) -> Sequence[str]:
    try:
        return FAKE_DNS[host]
    except KeyError:
        if host.replace(".", "").isdigit() or ":" in host:
            return [host]
        raise OSError(f"unknown test host {host}") from None


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def server(ca: trustme.CA) -> Iterator[RunningServer]:
    with https_server(ca) as running:
        yield running


def make_client(ca_bundle: Path | None, **overrides: object) -> GuardedClient:
    settings: dict[str, object] = {
        "allow_loopback": True,
        "timeout_seconds": 5.0,
        "ca_bundle": ca_bundle,
    }
    settings.update(overrides)
    return GuardedClient(HttpSettings.model_validate(settings), resolver=fake_resolver)


@pytest.fixture
def bundle(ca: trustme.CA, tmp_path: Path) -> Path:
    return write_ca_bundle(ca, tmp_path)


@pytest.fixture
def client(bundle: Path) -> Iterator[GuardedClient]:
    with make_client(bundle) as guarded:
        yield guarded


def error_of(excinfo: pytest.ExceptionInfo[HansaError]) -> str:
    return excinfo.value.code


# --- address rules --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("8.8.8.8", "global"),
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "private"),
        ("fd00::1", "private"),
        ("169.254.169.254", "link_local"),
        ("fe80::1", "link_local"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "unspecified"),
        ("::", "unspecified"),
        ("192.0.2.1", "reserved"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:169.254.169.254", "link_local"),
        ("::ffff:8.8.8.8", "global"),
        ("2002:a9fe:a9fe::1", "link_local"),  # 6to4 around the metadata address
        ("64:ff9b::a00:1", "private"),  # NAT64 around 10.0.0.1
        ("::127.0.0.1", "loopback"),  # IPv4-compatible
        ("2606:4700:4700::1111", "global"),
    ],
)
def test_classify_address(address: str, kind: str) -> None:
    assert classify_address(ipaddress.ip_address(address)) == kind


def test_check_address_names_the_setting() -> None:
    with pytest.raises(HansaError) as excinfo:
        check_address("intranet.test", "10.1.2.3", HttpSettings())
    assert excinfo.value.code == "net.forbidden_target"
    assert excinfo.value.extra["setting"] == "allow_private"
    assert "intranet.test" in excinfo.value.detail
    assert "allow_private" in excinfo.value.detail
    assert check_address("intranet.test", "10.1.2.3", HttpSettings(allow_private=True))


def test_link_local_is_never_allowed() -> None:
    settings = HttpSettings(allow_private=True, allow_loopback=True)
    with pytest.raises(HansaError) as excinfo:
        check_address("metadata.test", "169.254.169.254", settings)
    assert excinfo.value.extra["setting"] is None


# --- fetching -------------------------------------------------------------------------------


def test_get_json_over_https(server: RunningServer, client: GuardedClient) -> None:
    server.routes["/doc"] = json_route({"hello": "world"})
    assert client.get_json(server.url("/doc")) == {"hello": "world"}
    response = client.get_bytes(server.url("/doc", host="node.test"), accept="application/json")
    assert response.status == 200
    assert response.headers["content-type"] == "application/json"
    _, _, headers, _ = server.requests[-1]
    # The host name, not the pinned address, reaches the server.
    assert headers["Host"] == f"node.test:{server.port}"
    assert headers["Accept"] == "application/json"


def test_loopback_refused_by_default(server: RunningServer, bundle: Path) -> None:
    server.routes["/doc"] = json_route({})
    with make_client(bundle, allow_loopback=False) as guarded:
        with pytest.raises(HansaError) as excinfo:
            guarded.get_bytes(server.url("/doc"))
        assert error_of(excinfo) == "net.forbidden_target"
        assert excinfo.value.status_code == 403
        assert excinfo.value.extra["setting"] == "allow_loopback"
        with pytest.raises(HansaError) as excinfo:
            guarded.get_bytes(server.url("/doc", host="mapped.test"))
        assert error_of(excinfo) == "net.forbidden_target"
    assert server.requests == []


@pytest.mark.parametrize(
    ("host", "setting"),
    [
        ("intranet.test", "allow_private"),
        ("ula.test", "allow_private"),
        ("metadata.test", None),
        ("mixed.test", "allow_private"),  # one bad address among good ones is enough
        ("[fe80::1]", None),
        ("0.0.0.0", None),
    ],
)
def test_forbidden_targets_refused_before_connecting(
    client: GuardedClient, host: str, setting: str | None
) -> None:
    with pytest.raises(HansaError) as excinfo:
        client.get_bytes(f"https://{host}:9/x")
    assert error_of(excinfo) == "net.forbidden_target"
    assert excinfo.value.extra["setting"] == setting


def test_unresolvable_host(client: GuardedClient) -> None:
    with pytest.raises(HansaError) as excinfo:
        client.get_bytes("https://nowhere.test/x")
    assert error_of(excinfo) == "net.unreachable"
    assert excinfo.value.status_code == 503


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("http://localhost/x", "net.insecure_scheme"),
        ("ftp://localhost/x", "net.insecure_scheme"),
        ("file:///etc/passwd", "net.insecure_scheme"),
        ("https://user:pw@localhost/x", "net.invalid_url"),
        ("https:///x", "net.invalid_url"),
    ],
)
def test_bad_urls(client: GuardedClient, url: str, code: str) -> None:
    with pytest.raises(HansaError) as excinfo:
        client.get_bytes(url)
    assert error_of(excinfo) == code


def test_plain_http_only_to_loopback_and_only_when_allowed(ca: trustme.CA, bundle: Path) -> None:
    with https_server(ca, {"/doc": json_route({"plain": True})}, tls=False) as plain:
        url = f"http://localhost:{plain.port}/doc"
        with make_client(bundle) as strict, pytest.raises(HansaError) as excinfo:
            strict.get_bytes(url)
        assert error_of(excinfo) == "net.insecure_scheme"
        with make_client(bundle, allow_http_on_loopback=True, allow_private=True) as dev:
            assert dev.get_json(url) == {"plain": True}
            with pytest.raises(HansaError) as excinfo:
                dev.get_bytes(f"http://intranet.test:{plain.port}/doc")
            assert error_of(excinfo) == "net.insecure_scheme"


def test_untrusted_certificate_refused(server: RunningServer) -> None:
    server.routes["/doc"] = json_route({})
    with make_client(None) as guarded, pytest.raises(HansaError) as excinfo:
        guarded.get_bytes(server.url("/doc"))
    assert error_of(excinfo) == "net.tls_failed"
    assert server.requests == []


def test_certificate_for_another_name_refused(ca: trustme.CA, client: GuardedClient) -> None:
    with https_server(ca, {"/doc": json_route({})}, names=("localhost",)) as narrow:
        with pytest.raises(HansaError) as excinfo:
            client.get_bytes(narrow.url("/doc", host="node.test"))
        assert error_of(excinfo) == "net.tls_failed"


def test_http_status_error_carries_status(server: RunningServer, client: GuardedClient) -> None:
    with pytest.raises(HttpStatusError) as excinfo:
        client.get_bytes(server.url("/missing"))
    assert excinfo.value.code == "net.http_status"
    assert excinfo.value.upstream_status == 404
    assert excinfo.value.response.content == b'{"error":"not found"}'
    response = client.get_bytes(server.url("/missing"), raise_for_status=False)
    assert response.status == 404


def test_invalid_json(server: RunningServer, client: GuardedClient) -> None:
    server.routes["/nan"] = bytes_route(b'{"a": NaN}')
    server.routes["/text"] = bytes_route(b"<html>")
    for path in ("/nan", "/text"):
        with pytest.raises(HansaError) as excinfo:
            client.get_json(server.url(path))
        assert error_of(excinfo) == "net.invalid_json"


# --- size and time --------------------------------------------------------------------------


def test_oversized_body_with_content_length(server: RunningServer, bundle: Path) -> None:
    server.routes["/big"] = bytes_route(b"x" * 2000)
    with make_client(bundle, max_response_bytes=1000) as guarded:
        with pytest.raises(HansaError) as excinfo:
            guarded.get_bytes(server.url("/big"))
        assert error_of(excinfo) == "net.too_large"
        assert guarded.get_bytes(server.url("/big"), max_bytes=5000).content == b"x" * 2000


def test_oversized_body_without_content_length(server: RunningServer, bundle: Path) -> None:
    server.routes["/big"] = bytes_route(b"x" * 5000, content_length=False)
    server.routes["/small"] = bytes_route(b"x" * 500, content_length=False)
    server.routes["/liar"] = lying_length_route(b"x" * 5000, declared=10)
    with make_client(bundle, max_response_bytes=1000) as guarded:
        with pytest.raises(HansaError) as excinfo:
            guarded.get_bytes(server.url("/big"))
        assert error_of(excinfo) == "net.too_large"
        assert guarded.get_bytes(server.url("/small")).content == b"x" * 500
        # A short Content-Length is what is read; the rest is not taken as body.
        assert len(guarded.get_bytes(server.url("/liar")).content) == 10


def test_dripping_server_hits_the_total_deadline(server: RunningServer, bundle: Path) -> None:
    # Every single byte arrives well within any per-read timeout; only a total deadline stops it.
    server.routes["/drip"] = drip_route(interval=0.05)
    with make_client(bundle, timeout_seconds=0.5) as guarded:
        with pytest.raises(HansaError) as excinfo:
            guarded.get_bytes(server.url("/drip"))
        assert error_of(excinfo) == "net.timeout"
        assert excinfo.value.status_code == 504


# --- redirects ------------------------------------------------------------------------------


def test_redirect_followed_and_checked(server: RunningServer, client: GuardedClient) -> None:
    server.routes["/old"] = redirect_route("/new", 301)
    server.routes["/new"] = json_route({"moved": True})
    response = client.get_bytes(server.url("/old"))
    assert response.url == server.url("/new")
    assert response.json() == {"moved": True}


@pytest.mark.parametrize(
    ("location", "reason"),
    [
        ("https://metadata.test/latest/meta-data/", "net.forbidden_target"),
        ("https://intranet.test/admin", "net.forbidden_target"),
        ("https://169.254.169.254/", "net.forbidden_target"),
        ("http://localhost/x", "net.insecure_scheme"),
        ("file:///etc/passwd", "net.insecure_scheme"),
    ],
)
def test_redirect_to_forbidden_target_refused(
    server: RunningServer, client: GuardedClient, location: str, reason: str
) -> None:
    server.routes["/go"] = redirect_route(location)
    with pytest.raises(HansaError) as excinfo:
        client.get_bytes(server.url("/go"))
    assert error_of(excinfo) == "net.redirect_refused"
    assert excinfo.value.extra["reason"] == reason


def test_too_many_redirects(server: RunningServer, bundle: Path) -> None:
    server.routes["/loop"] = redirect_route("/loop", 307)
    with make_client(bundle, max_redirects=2) as guarded:
        with pytest.raises(HansaError) as excinfo:
            guarded.get_bytes(server.url("/loop"))
        assert error_of(excinfo) == "net.redirect_refused"
        assert excinfo.value.extra["reason"] == "too_many_redirects"
    assert server.hits("/loop") == 3


def test_post_json_and_redirect_rules(server: RunningServer, client: GuardedClient) -> None:
    server.routes["/in"] = json_route({"ok": True}, status=201)
    server.routes["/keep"] = redirect_route("/in", 307)
    server.routes["/cross"] = redirect_route(server.url("/in", host="other.test"), 308)
    server.routes["/see-other"] = redirect_route("/in", 303)
    auth = {"Authorization": "Bearer t"}
    assert client.post_json(server.url("/keep"), {"a": 1}, auth).json() == {"ok": True}
    method, _, headers, body = server.requests[-1]
    assert (method, body, headers["Authorization"]) == ("POST", b'{"a":1}', "Bearer t")

    client.post_json(server.url("/cross"), {"a": 2}, auth)
    method, _, headers, body = server.requests[-1]
    assert (method, body) == ("POST", b'{"a":2}')
    assert "Authorization" not in headers  # a token never follows a redirect to another origin

    client.post_json(server.url("/see-other"), {"a": 3}, auth)
    method, _, headers, body = server.requests[-1]
    assert (method, body) == ("GET", b"")


def test_concurrent_use_from_threads(server: RunningServer, client: GuardedClient) -> None:
    server.routes["/doc"] = json_route({"n": 1})
    results: list[object] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(5):
                results.append(client.get_json(server.url("/doc")))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert results == [{"n": 1}] * 20


def test_bad_ca_bundle_is_a_configuration_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate")
    with pytest.raises(HansaError) as excinfo:
        GuardedClient(HttpSettings(ca_bundle=bad))
    assert excinfo.value.code == "config.ca_bundle_invalid"


def _encoded_route(body: bytes, encoding: str) -> Any:
    def route(handler: Any, stop: threading.Event) -> None:
        handler.send_response(200)
        handler.send_header("Content-Encoding", encoding)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    return route


def test_compressed_answers_are_decoded_and_capped_decoded(
    server: RunningServer, bundle: Path
) -> None:
    document = b'{"a": "' + b"x" * 900 + b'"}'
    server.routes["/gzip"] = _encoded_route(gzip.compress(document), "gzip")
    server.routes["/deflate"] = _encoded_route(zlib.compress(document), "deflate")
    # A 10 MB bomb in a few KB: refused once more than the limit is inflated.
    server.routes["/bomb"] = _encoded_route(gzip.compress(b"\0" * 10_000_000), "gzip")
    server.routes["/broken"] = _encoded_route(b"not gzip at all", "gzip")
    server.routes["/br"] = _encoded_route(b"...", "br")
    with make_client(bundle, max_response_bytes=1000) as guarded:
        assert guarded.get_bytes(server.url("/gzip")).content == document
        assert guarded.get_bytes(server.url("/deflate")).content == document
        for path, code in [
            ("/bomb", "net.too_large"),
            ("/broken", "net.protocol_error"),
            ("/br", "net.protocol_error"),
        ]:
            with pytest.raises(HansaError) as excinfo:
                guarded.get_bytes(server.url(path))
            assert error_of(excinfo) == code, path
    _, _, headers, _ = server.requests[0]
    assert headers["Accept-Encoding"] == "gzip, deflate"
