"""Real HTTPS servers on 127.0.0.1 for tests, with certificates from a trustme test CA.

A server answers each path with a *route*: a function that writes the whole response to
the request handler. Servers run in a thread and are stopped (and every dripping handler
released) when the ``with`` block ends.
"""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import trustme

Route = Callable[[BaseHTTPRequestHandler, threading.Event], None]

SERVER_NAMES = ("localhost", "127.0.0.1", "node.test", "other.test")


@dataclass
class RunningServer:
    """A running server: its port, the paths it was asked for, and its routes (mutable)."""

    port: int
    routes: dict[str, Route]
    requests: list[tuple[str, str, dict[str, str], bytes]] = field(default_factory=list)

    @property
    def origin(self) -> str:
        return f"https://localhost:{self.port}"

    def url(self, path: str, host: str = "localhost") -> str:
        return f"https://{host}:{self.port}{path}"

    def hits(self, path: str) -> int:
        return sum(1 for _, p, _, _ in self.requests if p == path)


def write_ca_bundle(ca: trustme.CA, directory: Path) -> Path:
    """The CA's certificate as a PEM file (what ``http.ca_bundle`` points to)."""
    path = directory / "federation-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


@contextmanager
def https_server(
    ca: trustme.CA,
    routes: dict[str, Route] | None = None,
    *,
    names: tuple[str, ...] = SERVER_NAMES,
    tls: bool = True,
) -> Iterator[RunningServer]:
    """Serve ``routes`` over HTTPS (certificate for ``names`` from ``ca``) on 127.0.0.1."""
    stop = threading.Event()
    server_state: dict[str, RunningServer] = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _serve(self) -> None:
            state = server_state["server"]
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            path = self.path.split("?", 1)[0]
            state.requests.append((self.command, path, dict(self.headers.items()), body))
            route = state.routes.get(path)
            if route is None:
                send(self, 404, b'{"error":"not found"}')
                return
            route(self, stop)

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request: Any, client_address: Any) -> None:
            pass  # clients that hang up mid-response are part of the tests

    server = Server(("127.0.0.1", 0), Handler)
    if tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ca.issue_cert(*names).configure_cert(context)
        # The handshake runs in the handler thread, so a failing one cannot block accept().
        server.socket = context.wrap_socket(
            server.socket, server_side=True, do_handshake_on_connect=False
        )
    state = RunningServer(port=server.server_address[1], routes=dict(routes or {}))
    server_state["server"] = state
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield state
    finally:
        stop.set()
        server.shutdown()
        server.server_close()
        thread.join()


# --- routes ---------------------------------------------------------------------------------


def send(
    handler: BaseHTTPRequestHandler,
    status: int,
    body: bytes,
    *,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
    content_length: bool = True,
) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    if content_length:
        handler.send_header("Content-Length", str(len(body)))
    else:
        handler.send_header("Connection", "close")
        handler.close_connection = True
    handler.end_headers()
    handler.wfile.write(body)


def json_route(document: Any, status: int = 200) -> Route:
    def route(handler: BaseHTTPRequestHandler, stop: threading.Event) -> None:
        send(handler, status, json.dumps(document).encode())

    return route


def bytes_route(body: bytes, *, content_length: bool = True, status: int = 200) -> Route:
    """``body``; without ``content_length`` the body is ended by closing the connection."""

    def route(handler: BaseHTTPRequestHandler, stop: threading.Event) -> None:
        send(handler, status, body, content_length=content_length)

    return route


def lying_length_route(body: bytes, declared: int) -> Route:
    """Declares ``declared`` bytes in Content-Length but sends ``body`` and closes."""

    def route(handler: BaseHTTPRequestHandler, stop: threading.Event) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(declared))
        handler.end_headers()
        handler.close_connection = True
        handler.wfile.write(body)

    return route


def redirect_route(location: str, status: int = 302) -> Route:
    def route(handler: BaseHTTPRequestHandler, stop: threading.Event) -> None:
        send(handler, status, b"", headers={"Location": location})

    return route


def drip_route(interval: float = 0.05, chunks: int = 10_000) -> Route:
    """Sends headers at once, then one byte every ``interval`` seconds (a slow-loris answer)."""

    def route(handler: BaseHTTPRequestHandler, stop: threading.Event) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(chunks))
        handler.end_headers()
        handler.wfile.flush()
        for _ in range(chunks):
            if stop.wait(interval):
                return
            try:
                handler.wfile.write(b" ")
                handler.wfile.flush()
            except OSError:
                return

    return route
