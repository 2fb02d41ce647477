"""The guarded client's streaming GET and the HttpData backend, against real HTTPS servers."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
import trustme

from hansa.dataplane.backend_http import HttpBackend, create_backend
from hansa.dataplane.backends import DataPlaneConfig
from hansa.errors import HansaError
from hansa.fetch import GuardedClient
from hansa.settings import HttpSettings
from tls_helpers import (
    Route,
    RunningServer,
    bytes_route,
    https_server,
    lying_length_route,
    redirect_route,
    send,
    write_ca_bundle,
)

MIB = 1_048_576
DATA = os.urandom(3 * MIB + 17)
FAKE_DNS = {"localhost": ["127.0.0.1"], "other.test": ["127.0.0.1"], "intranet.test": ["10.1.2.3"]}


def fake_resolver(host: str, port: int) -> Sequence[str]:
    try:
        return FAKE_DNS[host]
    except KeyError:
        raise OSError(f"unknown test host {host}") from None


def range_route(body: bytes, *, honour_range: bool = True) -> Route:
    def route(handler: BaseHTTPRequestHandler, stop: threading.Event) -> None:
        header = handler.headers.get("Range")
        match = re.match(r"bytes=(\d+)-(\d*)$", header or "")
        if not honour_range or match is None:
            send(handler, 200, body, content_type="text/csv", headers={"ETag": '"v1"'})
            return
        start = int(match.group(1))
        if start >= len(body):
            send(handler, 416, b"", headers={"Content-Range": f"bytes */{len(body)}"})
            return
        end = min(int(match.group(2)) if match.group(2) else len(body) - 1, len(body) - 1)
        send(
            handler,
            206,
            body[start : end + 1],
            content_type="text/csv",
            headers={"Content-Range": f"bytes {start}-{end}/{len(body)}", "ETag": '"v1"'},
        )

    return route


def stalling_route(head: bytes, declared: int) -> Route:
    """Sends part of the body, then nothing (until the server stops)."""

    def route(handler: BaseHTTPRequestHandler, stop: threading.Event) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(declared))
        handler.end_headers()
        handler.wfile.write(head)
        handler.wfile.flush()
        stop.wait(30)

    return route


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def server(ca: trustme.CA) -> Iterator[RunningServer]:
    routes = {
        "/data.csv": range_route(DATA),
        "/plain.csv": range_route(DATA, honour_range=False),
        "/cut": lying_length_route(DATA[: MIB + 5], 3 * MIB),
        "/stall": stalling_route(DATA[:1000], 5000),
        "/secret": bytes_route(b"no", status=403),
        "/gone": bytes_route(b"no", status=404),
        "/broken": bytes_route(b"no", status=500),
        "/to-private": redirect_route("https://intranet.test/x"),
        "/to-http": redirect_route("http://localhost/x"),
    }
    with https_server(ca, routes) as running:
        running.routes["/to-other"] = redirect_route(running.url("/data.csv", host="other.test"))
        yield running


@pytest.fixture
def client(ca: trustme.CA, tmp_path: Path) -> Iterator[GuardedClient]:
    settings = HttpSettings(
        allow_loopback=True, timeout_seconds=1.0, ca_bundle=write_ca_bundle(ca, tmp_path)
    )
    with GuardedClient(settings, resolver=fake_resolver) as guarded:
        yield guarded


@pytest.fixture
def backend(client: GuardedClient) -> HttpBackend:
    return create_backend(DataPlaneConfig(http_client=client))


# --- GuardedClient.stream_get ---------------------------------------------------------------


def test_stream_get_streams_past_the_buffered_size_cap(
    client: GuardedClient, server: RunningServer
) -> None:
    with client.stream_get(server.url("/data.csv")) as response:
        assert response.status == 200
        assert response.headers["content-length"] == str(len(DATA))
        sizes = [len(c) for c in response.chunks]
    assert sizes == [MIB, MIB, MIB, 17]


def test_stream_get_yields_error_statuses(client: GuardedClient, server: RunningServer) -> None:
    with client.stream_get(server.url("/gone")) as response:
        assert response.status == 404


def test_stream_get_drops_authorization_across_origins(
    client: GuardedClient, server: RunningServer
) -> None:
    with client.stream_get(server.url("/to-other"), {"Authorization": "Bearer s"}) as response:
        assert b"".join(response.chunks) == DATA
    first, second = server.requests[-2:]
    assert first[2].get("Authorization") == "Bearer s"
    assert "Authorization" not in second[2]


@pytest.mark.parametrize(
    ("path", "code"),
    [("/to-private", "net.redirect_refused"), ("/to-http", "net.redirect_refused")],
)
def test_stream_get_checks_every_redirect(
    client: GuardedClient, server: RunningServer, path: str, code: str
) -> None:
    with pytest.raises(HansaError) as caught, client.stream_get(server.url(path)):
        pass
    assert caught.value.code == code


def test_stream_get_refuses_plain_http(client: GuardedClient) -> None:
    with pytest.raises(HansaError) as caught, client.stream_get("http://localhost:1/x"):
        pass
    assert caught.value.code == "net.insecure_scheme"


def test_stream_get_fails_a_cut_body(client: GuardedClient, server: RunningServer) -> None:
    with client.stream_get(server.url("/cut")) as response, pytest.raises(HansaError) as caught:
        list(response.chunks)
    assert caught.value.code == "net.protocol_error"


def test_stream_get_idle_timeout(client: GuardedClient, server: RunningServer) -> None:
    with client.stream_get(server.url("/stall")) as response, pytest.raises(HansaError) as caught:
        list(response.chunks)
    assert caught.value.code == "net.timeout"


# --- the HttpData backend -------------------------------------------------------------------


def address(server: RunningServer, path: str) -> dict[str, str]:
    return {"type": "HttpData", "baseUrl": server.url(path)}


@pytest.mark.parametrize("path", ["/data.csv", "/plain.csv"])
@pytest.mark.parametrize(
    ("offset", "length"), [(0, None), (0, 10), (MIB - 3, MIB + 7), (3 * MIB, None), (5, 0)]
)
def test_reads_whole_and_ranges(
    backend: HttpBackend, server: RunningServer, path: str, offset: int, length: int | None
) -> None:
    with backend.open(address(server, path), offset=offset, length=length) as stream:
        body = b"".join(stream.chunks)
        assert stream.size == len(DATA)
        assert stream.etag == '"v1"'
    end = len(DATA) if length is None else offset + length
    assert body == DATA[offset:end]
    if offset and length != 0 and path == "/data.csv":
        assert server.requests[-1][2]["Range"].startswith(f"bytes={offset}-")


@pytest.mark.parametrize("path", ["/data.csv", "/plain.csv"])
def test_range_past_the_end(backend: HttpBackend, server: RunningServer, path: str) -> None:
    with (
        pytest.raises(HansaError) as caught,
        backend.open(address(server, path), offset=len(DATA) + 5),
    ):
        pass
    assert caught.value.code == "dataplane.range_not_satisfiable"
    assert caught.value.extra["size"] == len(DATA)


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/secret", "dataplane.backend_auth_failed"),
        ("/gone", "dataplane.not_found"),
        ("/broken", "dataplane.backend_failed"),
        ("/to-private", "dataplane.backend_failed"),
    ],
)
def test_source_errors(backend: HttpBackend, server: RunningServer, path: str, code: str) -> None:
    with pytest.raises(HansaError) as caught, backend.open(address(server, path)):
        pass
    assert caught.value.code == code


@pytest.mark.parametrize("path", ["/cut", "/stall"])
def test_failure_mid_stream_is_an_error_not_a_short_body(
    backend: HttpBackend, server: RunningServer, path: str
) -> None:
    received: list[int] = []
    with backend.open(address(server, path)) as stream, pytest.raises(HansaError) as caught:
        received.extend(len(chunk) for chunk in stream.chunks)
    assert caught.value.code == "dataplane.backend_failed"
    assert sum(received) < (stream.length or 0)


def test_stat_and_write(backend: HttpBackend, server: RunningServer) -> None:
    info = backend.stat(address(server, "/data.csv"))
    assert (info.size, info.content_type, info.etag) == (len(DATA), "text/csv", '"v1"')
    with pytest.raises(HansaError) as caught:
        backend.write(address(server, "/data.csv"), [b"x"])
    assert caught.value.code == "dataplane.write_unsupported"
