"""One streamed GET over its own pinned connection: h11 for the protocol, the body read
straight into chunk buffers. Used by :meth:`hansa.fetch.GuardedClient.stream_get`.

httpx hands a body over in pieces of at most 64 KiB, each through h11, httpcore and httpx,
and copies every byte several times on the way. For a data transfer of gigabytes that
costs more CPU than the TLS decryption itself (measured, 1 GiB over loopback TLS: 1.0 s
of CPU through httpx against 0.5 s reading the socket straight into 1 MiB buffers). Here
h11 writes the request and parses the response head (and bodies in chunked or
close-delimited framing); a body framed by ``Content-Length`` is then read with
``recv_into`` into the chunk buffer, one copy per chunk to hand it on as ``bytes`` (none
with ``lend=True``: the chunks are then views of buffers lent from
:data:`hansa.chunk_buffers.BUFFERS`).

The connection is made by the same pinning backend as every other fetch
(:func:`hansa.fetch_guard.connect`): checked addresses only, certificate verification and
SNI on the host name. It is used for one request (``Connection: close``) and closed after.

Errors: ``net.timeout`` (no progress within the timeout), ``net.unreachable`` (the
connection failed), ``net.protocol_error`` (malformed HTTP, or a body that ends before its
``Content-Length``: a short body is never passed off as complete).
"""

from __future__ import annotations

import contextlib
import socket
import ssl
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

import h11

from hansa.chunk_buffers import BUFFERS, Chunk
from hansa.errors import UpstreamError, UpstreamUnavailable

MAX_HEAD_BYTES = 65_536
"""The response line and headers together may not be larger (h11's own default is 16 KiB)."""
_READ = 65_536


@dataclass
class RawResponse:
    """A response head, and its body still on the connection."""

    status: int
    headers: dict[str, str]
    """Lower-case names; repeated fields joined with ", " (as httpx does)."""
    _sock: socket.socket
    _conn: h11.Connection
    _host: str
    _idle_timeout: float

    def chunks(self, chunk_size: int, *, lend: bool = False) -> Iterator[Chunk]:
        """The body in pieces of exactly ``chunk_size`` bytes (the last may be shorter).

        They are ``bytes``; with ``lend``, a body framed by ``Content-Length`` comes as
        read-only views of buffers lent from :data:`~hansa.chunk_buffers.BUFFERS`, which
        the last reader of each may give back.
        """
        self._sock.settimeout(self._idle_timeout)
        with _socket_errors(self._host, reading_body=True):
            length = self.headers.get("content-length", "")
            framed = "transfer-encoding" not in self.headers and length.isdigit()
            if framed:
                yield from self._sized(int(length), chunk_size, lend)
            else:
                yield from self._framed_by_h11(chunk_size)

    def close(self) -> None:
        """Close the connection (whether or not the body was read)."""
        self._sock.close()

    def _sized(self, length: int, chunk_size: int, lend: bool) -> Iterator[Chunk]:
        buffered = self._conn.trailing_data[0]
        if len(buffered) > length:
            raise _protocol_error(self._host, "sent more body bytes than its Content-Length")
        left = length - len(buffered)
        # What h11 read past the head first (whole chunks of it as they are) ...
        start = 0
        while len(buffered) - start >= chunk_size:
            yield buffered[start : start + chunk_size]
            start += chunk_size
        # ... then the socket straight into the chunk buffer.
        lent = BUFFERS.take(chunk_size) if lend else None
        view = memoryview(lent if lent is not None else bytearray(chunk_size))
        filled = len(buffered) - start
        view[:filled] = buffered[start:]
        while True:
            while left and filled < chunk_size:
                received = self._sock.recv_into(view[filled:], min(chunk_size - filled, left))
                if not received:
                    raise _cut(self._host, length - left, length)
                filled += received
                left -= received
            if filled:
                yield bytes(view[:filled]) if lent is None else BUFFERS.lend(lent, filled)
            if not left:
                return
            filled = 0
            if lent is not None:  # the one just lent is the reader's now
                lent = BUFFERS.take(chunk_size)
                view = memoryview(lent)

    def _framed_by_h11(self, chunk_size: int) -> Iterator[bytes]:
        held = bytearray()
        while True:
            event = self._conn.next_event()
            if event is h11.NEED_DATA:
                self._conn.receive_data(self._sock.recv(_READ))
            elif isinstance(event, h11.Data):
                held += event.data
                while len(held) >= chunk_size:
                    yield bytes(held[:chunk_size])
                    del held[:chunk_size]
            elif isinstance(event, h11.EndOfMessage):
                if held:
                    yield bytes(held)
                return
            else:
                raise _protocol_error(self._host, f"unexpected {type(event).__name__}")


def exchange(
    sock: socket.socket,
    *,
    host: str,
    host_header: str,
    target: bytes,
    headers: Mapping[str, str],
    head_timeout: Callable[[], float],
    idle_timeout: float,
) -> RawResponse:
    """Send ``GET target`` on ``sock`` and read the response head.

    ``head_timeout()`` is the time left for sending and for each read of the head (the
    request's deadline); the body's reads each get ``idle_timeout``. The socket is closed
    when this fails.
    """
    conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD_BYTES)
    # Names keep the caller's spelling; a caller's header replaces a default of any case.
    sent = {"host": ("Host", host_header), "accept-encoding": ("Accept-Encoding", "identity")}
    sent.update({name.lower(): (name, value) for name, value in headers.items()})
    sent["connection"] = ("Connection", "close")
    try:
        with _socket_errors(host, reading_body=False):
            sock.settimeout(_left(head_timeout, host))
            sock.sendall(
                conn.send(h11.Request(method="GET", target=target, headers=list(sent.values())))
                + conn.send(h11.EndOfMessage())
            )
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    sock.settimeout(_left(head_timeout, host))
                    conn.receive_data(sock.recv(_READ))
                elif isinstance(event, h11.Response):
                    break
                elif not isinstance(event, h11.InformationalResponse):
                    raise _protocol_error(host, f"answered with {type(event).__name__}")
    except BaseException:
        sock.close()
        raise
    return RawResponse(
        event.status_code, merged_headers(event.headers), sock, conn, host, idle_timeout
    )


def merged_headers(fields: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """Response header fields by lower-case name, repeated ones joined with ", " (as httpx)."""
    merged: dict[str, str] = {}
    for raw_name, raw_value in fields:
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        merged[name] = f"{merged[name]}, {value}" if name in merged else value
    return merged


def _left(head_timeout: Callable[[], float], host: str) -> float:
    left = head_timeout()
    if left <= 0:
        raise _timeout(host)
    return left


@contextlib.contextmanager
def _socket_errors(host: str, *, reading_body: bool) -> Iterator[None]:
    """Socket, TLS and h11 failures as ``net.*`` errors naming the host."""
    try:
        yield
    except TimeoutError as exc:
        raise _timeout(host) from exc
    except h11.ProtocolError as exc:
        raise _protocol_error(host, str(exc)) from exc
    except ssl.SSLEOFError as exc:
        if not reading_body:
            raise UpstreamUnavailable(
                f"cannot reach {host}: the connection ended", code="net.unreachable", host=host
            ) from exc
        raise _protocol_error(host, "the connection ended in the middle of the body") from exc
    except OSError as exc:
        raise UpstreamUnavailable(
            f"cannot reach {host}: {exc.strerror or exc}", code="net.unreachable", host=host
        ) from exc


def _timeout(host: str) -> UpstreamUnavailable:
    return UpstreamUnavailable(
        f"{host} did not answer within the time limit (http.timeout_seconds)",
        code="net.timeout",
        status=504,
        host=host,
    )


def _protocol_error(host: str, what: str) -> UpstreamError:
    return UpstreamError(
        f"{host} broke the HTTP protocol: {what}", code="net.protocol_error", host=host
    )


def _cut(host: str, received: int, length: int) -> UpstreamError:
    return _protocol_error(
        host, f"the body ended after {received} of the {length} bytes its Content-Length announced"
    )
