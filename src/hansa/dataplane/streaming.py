"""Streaming primitives: RFC 9110 byte ranges, SHA-256 while streaming, a metered ASGI response.

Ranges: one range per request (``bytes=0-499``, ``bytes=500-``, ``bytes=-500``). A Range
header Hansa does not serve (another unit, several ranges, bad syntax) is ignored and
the whole representation is sent, as RFC 9110 section 14.2 allows; a range that starts
at or after the end is refused with 416 and ``Content-Range: bytes */<size>``.

:class:`MeteredStreamResponse` is an ASGI response over a *synchronous* iterator of
~1 MiB chunks (backends are synchronous: boto3, files, httpx). Each chunk is fetched in a
worker thread together with the caller's ``guard`` (the agreement check), so a revoked
agreement stops the stream within one chunk. It watches for the client hanging up, and
always reports how it ended and how many body bytes it handed to the server.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, Literal, TypeVar

import anyio
import anyio.to_thread
from starlette.types import Receive, Scope, Send

from hansa.chunk_buffers import Chunk
from hansa.dataplane.errors import RangeNotSatisfiable, is_agreement_refusal
from hansa.errors import HansaError

if TYPE_CHECKING:
    from hashlib import _Hash as Hash

Outcome = Literal["completed", "aborted", "revoked", "failed"]

ChunkT = TypeVar("ChunkT", bound=Chunk, covariant=True)
_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class ByteRange:
    """An inclusive byte range ``[start, end]`` of an object of ``size`` bytes."""

    start: int
    end: int
    size: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    def content_range(self) -> str:
        """The ``Content-Range`` header value of a 206 answer."""
        return f"bytes {self.start}-{self.end}/{self.size}"


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The single byte range ``header`` asks for in an object of ``size`` bytes.

    ``None`` means "send everything" (no header, or one this server ignores); raises
    :class:`RangeNotSatisfiable` (416) when the range lies wholly past the end.
    """
    if header is None:
        return None
    match = _RANGE.match(header)
    if match is None:
        return None  # another unit, several ranges or bad syntax: ignored (RFC 9110 14.2)
    first, last = match.group(1), match.group(2)
    if not first and not last:
        return None
    if not first:
        suffix = int(last)  # bytes=-N: the last N bytes
        if suffix == 0 or size == 0:
            raise _unsatisfiable(header, size)
        return ByteRange(max(0, size - suffix), size - 1, size)
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None  # invalid range-spec: ignored like bad syntax
    if start >= size:
        raise _unsatisfiable(header, size)
    return ByteRange(start, min(end, size - 1), size)


def unsatisfied_content_range(size: int | None) -> str:
    """``Content-Range`` of a 416 answer."""
    return f"bytes */{size if size is not None else '*'}"


def _unsatisfiable(header: str, size: int) -> RangeNotSatisfiable:
    return RangeNotSatisfiable(
        f"the range {header.strip()!r} starts at or after the end of the {size}-byte object",
        size=size,
        pointer="Range",
    )


class HashedChunks:
    """Chunks whose producer computes the SHA-256 of exactly the chunks it yields.

    A writer handed one that has yielded nothing yet (``size == 0``) need not hash the bytes
    a second time: once the last chunk is out, ``hexdigest()`` is the SHA-256 of all it
    wrote and ``size`` their count. A download is then hashed once, not twice.
    """

    size: int
    """Bytes yielded so far."""

    def __iter__(self) -> Iterator[Chunk]:
        raise NotImplementedError

    def hexdigest(self) -> str:
        """The hex SHA-256 of every byte yielded so far."""
        raise NotImplementedError


class HashingIterator(HashedChunks, Generic[ChunkT]):
    """Passes chunks through while computing their SHA-256 and counting their bytes."""

    def __init__(self, chunks: Iterable[ChunkT]) -> None:
        self._chunks = iter(chunks)
        self._hash = hashlib.sha256()
        self._handed_over = False
        self.size = 0

    def __iter__(self) -> Iterator[ChunkT]:
        return self

    def __next__(self) -> ChunkT:
        chunk = next(self._chunks)
        if not self._handed_over:
            self._hash.update(chunk)
        self.size += len(chunk)
        return chunk

    def hexdigest(self) -> str:
        """The hex SHA-256 of every byte passed through so far."""
        return self._hash.hexdigest()

    def hand_over(self) -> Hash:
        """Before the first chunk: the caller hashes instead, in a thread of its own.

        The caller must feed every chunk it takes from this iterator, in order, to the
        returned hash, and call :meth:`finish` after the last one.
        """
        if self.size:
            raise RuntimeError("the hashing can be handed over only before the first chunk")
        self._handed_over = True
        return self._hash

    def finish(self) -> None:
        """Checks of the whole once the last chunk is hashed (here: none)."""


def rechunk(chunks: Iterable[bytes], size: int) -> Iterator[bytes]:
    """The same bytes in pieces of exactly ``size`` (the last may be shorter)."""
    buffer = bytearray()
    for chunk in chunks:
        buffer += chunk
        while len(buffer) >= size:
            yield bytes(buffer[:size])
            del buffer[:size]
    if buffer:
        yield bytes(buffer)


@dataclass(frozen=True)
class StreamResult:
    """How a streamed response ended: the outcome, body bytes sent, and the error if any."""

    outcome: Outcome
    bytes_sent: int
    error: HansaError | None = None


_DONE = object()


class MeteredStreamResponse:
    """An ASGI response streaming ``chunks``, guarded every ``check_every`` chunks.

    ``guard()`` runs (in a worker thread) before every ``check_every``-th read after the
    first; an agreement refusal from it (:func:`~hansa.dataplane.errors.is_agreement_refusal`)
    ends the stream as ``revoked``, any other error as ``failed``. Either way the connection
    is cut without finishing the body, so the client sees an incomplete response, never a
    complete-looking short one.
    ``on_close(result)`` runs exactly once, also when the client hangs up (``aborted``).
    ``bytes_sent`` counts bytes handed to the server; a few in its buffers may not have
    reached a client that hung up.
    """

    def __init__(
        self,
        *,
        status: int,
        headers: Sequence[tuple[str, str]],
        chunks: Iterator[bytes],
        on_close: Callable[[StreamResult], None],
        guard: Callable[[], None] | None = None,
        check_every: int = 1,
        close: Callable[[], object] | None = None,
    ) -> None:
        self.status = status
        self.headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
        self._chunks = chunks
        self._on_close = on_close
        self._guard = guard
        self._check_every = max(1, check_every)
        self._close = close
        self.bytes_sent = 0
        self._completed = False

    def _next_chunk(self, index: int) -> bytes | object:
        if self._guard is not None and index > 0 and index % self._check_every == 0:
            self._guard()
        return next(self._chunks, _DONE)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        ended: StreamResult | None = None
        disconnected = False
        try:
            async with anyio.create_task_group() as group:

                async def watch_disconnect() -> None:
                    nonlocal disconnected
                    while (await receive())["type"] != "http.disconnect":
                        pass
                    # uvicorn also answers http.disconnect once the response is complete.
                    if not self._completed:
                        disconnected = True
                        group.cancel_scope.cancel()

                group.start_soon(watch_disconnect)
                ended = await self._stream(send)
                group.cancel_scope.cancel()
        finally:
            if self._completed:
                ended = StreamResult("completed", self.bytes_sent)
            elif disconnected or ended is None:
                ended = StreamResult("aborted" if disconnected else "failed", self.bytes_sent)
            try:
                if self._close is not None:
                    await anyio.to_thread.run_sync(self._close)
            finally:
                self._on_close(ended)

    async def _stream(self, send: Send) -> StreamResult:
        await send({"type": "http.response.start", "status": self.status, "headers": self.headers})
        index = 0
        while True:
            try:
                chunk = await anyio.to_thread.run_sync(self._next_chunk, index)
            except HansaError as exc:
                outcome: Outcome = "revoked" if is_agreement_refusal(exc) else "failed"
                return StreamResult(outcome, self.bytes_sent, exc)
            if not isinstance(chunk, bytes):
                break
            index += 1
            if not chunk:
                continue
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            self.bytes_sent += len(chunk)
        self._completed = True
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return StreamResult("completed", self.bytes_sent)
