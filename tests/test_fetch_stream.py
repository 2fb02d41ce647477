"""hansa.fetch_stream: one GET on a socket, bodies in exact chunks, failures as net.* errors.

The peer is the other end of a socket pair writing raw HTTP/1.1, so every framing and
every way a body can go wrong is under the test's control (the TLS path is covered by the
stream_get tests in tests/dataplane/test_http_backend.py and the transfer tests).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from hansa.chunk_buffers import BUFFERS
from hansa.errors import HansaError
from hansa.fetch_stream import RawResponse, exchange

BODY = bytes(range(256)) * 41  # 10,496 bytes


class Peer:
    """The server end: reads the request head, then sends ``answer`` in ``pieces``."""

    def __init__(self, sock: socket.socket, pieces: list[bytes], *, then_close: bool) -> None:
        self.sock, self.pieces, self.then_close = sock, pieces, then_close
        self.request = b""
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        while b"\r\n\r\n" not in self.request:
            data = self.sock.recv(4096)
            if not data:
                return
            self.request += data
        for piece in self.pieces:
            self.sock.sendall(piece)
        if self.then_close:
            self.sock.close()


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    client, server = socket.socketpair()
    with client, server:
        yield client, server


def get(
    client: socket.socket,
    headers: dict[str, str] | None = None,
    *,
    head_seconds: float = 5.0,
    idle: float = 5.0,
) -> RawResponse:
    return exchange(
        client,
        host="example.test",
        host_header="example.test:8443",
        target=b"/data?x=1",
        headers=headers or {},
        head_timeout=lambda: head_seconds,
        idle_timeout=idle,
    )


def head(status: str, *fields: str) -> bytes:
    return ("\r\n".join([f"HTTP/1.1 {status}", *fields]) + "\r\n\r\n").encode()


@pytest.mark.parametrize("split", [0, 10, 3000, len(BODY)])
def test_a_sized_body_comes_in_exact_chunks(
    pair: tuple[socket.socket, socket.socket], split: int
) -> None:
    # The head and the first ``split`` body bytes arrive together (h11 has them buffered).
    client, server = pair
    answer = head("200 OK", f"Content-Length: {len(BODY)}") + BODY[:split]
    Peer(server, [answer, BODY[split:]], then_close=False)
    response = get(client)
    chunks = list(response.chunks(4096))
    assert [len(c) for c in chunks] == [4096, 4096, len(BODY) - 8192]
    assert b"".join(chunks) == BODY
    assert all(type(c) is bytes for c in chunks)


BIG = bytes(range(256)) * 1024 + b"tail"  # 262,148 bytes: 4 chunks of 64 KiB and 4 bytes


@pytest.mark.parametrize(("body", "size"), [(BIG, 65_536), (BODY, 4096)], ids=["big", "small"])
def test_a_sized_body_can_come_in_lent_buffers(
    pair: tuple[socket.socket, socket.socket], body: bytes, size: int
) -> None:
    """Lent chunks are read-only views of pool buffers, each its own until given back."""
    client, server = pair
    Peer(server, [head("200 OK", f"Content-Length: {len(body)}"), body], then_close=False)
    chunks = list(get(client).chunks(size, lend=True))
    assert b"".join(chunks) == body
    assert [len(c) for c in chunks[:-1]] == [size] * (len(body) // size)
    lent = [c for c in chunks if isinstance(c, memoryview)]
    # Whole chunks h11 read together with the head come as bytes, the rest in lent buffers.
    assert lent == chunks[len(chunks) - len(lent) :]
    assert len(lent) == (len(chunks) if size == 65_536 else 1)
    assert all(BUFFERS.is_lent(c) and c.readonly for c in lent)
    assert len({id(c.obj) for c in lent}) == len(lent)


def test_a_lent_buffer_given_back_receives_a_later_chunk(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    client, server = pair
    Peer(server, [head("200 OK", f"Content-Length: {len(BIG)}"), BIG], then_close=False)
    received = bytearray()
    buffers = []
    for chunk in get(client).chunks(65_536, lend=True):
        assert isinstance(chunk, memoryview)
        received += chunk
        buffers.append(chunk.obj)
        BUFFERS.give_back(chunk)  # its last reader
    assert received == BIG
    assert all(buffer is buffers[0] for buffer in buffers)


def test_chunked_and_close_delimited_bodies_come_in_exact_chunks(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    client, server = pair
    encoded = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in (BODY[:5000], BODY[5000:]))
    Peer(
        server,
        [head("200 OK", "Transfer-Encoding: chunked"), encoded + b"0\r\n\r\n"],
        then_close=False,
    )
    chunks = list(get(client).chunks(4096))
    assert [len(c) for c in chunks] == [4096, 4096, len(BODY) - 8192]
    assert b"".join(chunks) == BODY

    other_client, other_server = socket.socketpair()
    with other_client, other_server:
        Peer(other_server, [head("200 OK", "Connection: close"), BODY], then_close=True)
        assert b"".join(get(other_client).chunks(4096)) == BODY


def test_the_request_keeps_the_callers_headers_and_asks_for_identity(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    client, server = pair
    peer = Peer(server, [head("204 No Content", "X-A: 1", "x-a: 2")], then_close=False)
    response = get(client, {"Authorization": "Bearer t", "user-agent": "me"})
    assert response.status == 204
    assert response.headers["x-a"] == "1, 2"
    assert list(response.chunks(10)) == []
    peer.thread.join(5)
    lines = peer.request.decode().split("\r\n")
    assert lines[0] == "GET /data?x=1 HTTP/1.1"
    assert "Host: example.test:8443" in lines
    assert "Authorization: Bearer t" in lines
    assert "user-agent: me" in lines
    assert "Accept-Encoding: identity" in lines
    assert "Connection: close" in lines


def test_a_body_cut_short_is_an_error_not_a_short_body(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    client, server = pair
    Peer(server, [head("200 OK", "Content-Length: 9000"), BODY[:5000]], then_close=True)
    received: list[int] = []
    with pytest.raises(HansaError) as caught:
        received.extend(len(c) for c in get(client).chunks(4096))
    assert caught.value.code == "net.protocol_error"
    assert "5000 of the 9000 bytes" in caught.value.detail
    assert received == [4096]  # the partial last chunk is never handed on


def test_more_bytes_than_the_content_length_is_a_protocol_error(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    client, server = pair
    Peer(server, [head("200 OK", "Content-Length: 3") + b"abcdef"], then_close=False)
    with pytest.raises(HansaError) as caught:
        list(get(client).chunks(4096))
    assert caught.value.code == "net.protocol_error"


def test_a_stalled_body_times_out(pair: tuple[socket.socket, socket.socket]) -> None:
    client, server = pair
    Peer(server, [head("200 OK", "Content-Length: 9000"), BODY[:100]], then_close=False)
    with pytest.raises(HansaError) as caught:
        list(get(client, idle=0.2).chunks(4096))
    assert caught.value.code == "net.timeout"


@pytest.mark.parametrize(
    ("pieces", "code"),
    [
        ([b"NOT HTTP AT ALL\r\n\r\n"], "net.protocol_error"),
        ([b"HTTP/1.1 200 OK\r\nX: " + b"y" * 70_000], "net.protocol_error"),
        ([], "net.protocol_error"),  # closed before any answer
    ],
)
def test_a_bad_head_is_a_protocol_error_and_closes_the_socket(
    pair: tuple[socket.socket, socket.socket], pieces: list[bytes], code: str
) -> None:
    client, server = pair
    Peer(server, pieces, then_close=True)
    with pytest.raises(HansaError) as caught:
        get(client)
    assert caught.value.code == code
    assert client.fileno() == -1


def test_no_time_left_for_the_head_is_a_timeout(pair: tuple[socket.socket, socket.socket]) -> None:
    client, _server = pair
    with pytest.raises(HansaError) as caught:
        get(client, head_seconds=0)
    assert caught.value.code == "net.timeout"
