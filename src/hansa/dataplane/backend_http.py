"""The ``HttpData`` backend: a source named by an https URL, streamed through the guarded client.

Every fetch goes through :meth:`hansa.fetch.GuardedClient.stream_get` (pinned, checked
addresses; checked redirects; an idle timeout per read instead of a size cap). Ranges are
forwarded as a ``Range`` header; a source that ignores it and answers 200 is sliced here.
The body is counted against what the source announced (``Content-Range`` or
``Content-Length``): a source that fails or stops early mid-stream raises
``dataplane.backend_failed``, never a silently short body. (A source that announces no
length and closes early cannot be told apart from one that is complete.)
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import NoReturn

from hansa.chunk_buffers import Chunk
from hansa.dataplane.backends import (
    CHUNK_SIZE,
    DataAddress,
    DataPlaneConfig,
    ObjectInfo,
    ReadStream,
    WriteResult,
)
from hansa.dataplane.errors import (
    WRITE_UNSUPPORTED,
    BackendAuthFailed,
    BackendFailed,
    DataNotFound,
    RangeNotSatisfiable,
)
from hansa.errors import BadRequest, HansaError
from hansa.fetch import GuardedClient, StreamedResponse

_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")
_UNSATISFIED_RANGE = re.compile(r"^bytes \*/(\d+)$")


class HttpBackend:
    """Reads HttpData sources (``baseUrl``) through the guarded client."""

    def __init__(
        self,
        client: GuardedClient,
        *,
        chunk_size: int = CHUNK_SIZE,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """``headers`` are sent with every request (e.g. the node's credential for its source)."""
        self._client = client
        self.chunk_size = chunk_size
        self._headers = dict(headers or {})

    @staticmethod
    def _url(address: DataAddress) -> str:
        url = address.get("baseUrl")
        if not isinstance(url, str) or not url:
            raise BadRequest("an HttpData address needs a 'baseUrl'", pointer="/baseUrl")
        return url

    @contextlib.contextmanager
    def _get(self, url: str, headers: Mapping[str, str]) -> Iterator[StreamedResponse]:
        sent = {**self._headers, "Accept-Encoding": "identity", **headers}
        try:
            with self._client.stream_get(url, sent, chunk_size=self.chunk_size) as response:
                _raise_for_status(response)
                yield response
        except HansaError as exc:
            if exc.code.startswith("net."):
                raise BackendFailed(
                    f"the source {url} failed: {exc.detail}", reason=exc.code
                ) from exc
            raise

    @contextlib.contextmanager
    def open(
        self, address: DataAddress, *, offset: int = 0, length: int | None = None
    ) -> Iterator[ReadStream]:
        """Open the source (or a range of it) for streaming."""
        url = self._url(address)
        if length == 0:
            info = self.stat(address)
            yield ReadStream(
                chunks=iter(()),
                size=info.size,
                offset=offset,
                length=0,
                content_type=info.content_type,
                etag=info.etag,
            )
            return
        ranged = offset > 0 or length is not None
        last = "" if length is None else str(offset + length - 1)
        headers = {"Range": f"bytes={offset}-{last}"} if ranged else {}
        with self._get(url, headers) as response:
            size = _declared_length(response)
            skip = 0
            if response.status == 206:
                start, end, size = _content_range(response, url)
                if start != offset:
                    raise BackendFailed(
                        f"the source {url} answered the range from byte {start}, not {offset}"
                    )
                count: int | None = end - start + 1
            else:
                # The source ignored the Range header: slice the whole body here.
                skip = offset
                if size is not None:
                    if offset > 0 and offset >= size:
                        raise RangeNotSatisfiable(
                            f"the range starts at byte {offset}, but the source has {size} bytes",
                            size=size,
                        )
                    count = size - offset if length is None else min(length, size - offset)
                else:
                    count = length
            yield ReadStream(
                chunks=_checked(response.chunks, url, skip=skip, count=count),
                size=size,
                offset=offset,
                length=count,
                content_type=response.headers.get("content-type"),
                etag=response.headers.get("etag"),
            )

    def write(
        self, address: DataAddress, chunks: Iterable[Chunk], *, content_type: str | None = None
    ) -> WriteResult:
        """HTTP push is the transfer process's job; this backend only reads."""
        raise BadRequest(
            "the HttpData backend reads sources; it does not write to them (push transfers "
            "are made by the connector's transfer process)",
            code=WRITE_UNSUPPORTED,
        )

    def stat(self, address: DataAddress) -> ObjectInfo:
        """Size, type and ETag from the source's answer head (the body is not read)."""
        url = self._url(address)
        with self._get(url, {}) as response:
            return ObjectInfo(
                _declared_length(response),
                response.headers.get("content-type"),
                response.headers.get("etag"),
            )


def _raise_for_status(response: StreamedResponse) -> None:
    status, url = response.status, response.url
    if status in {200, 206}:
        return
    if status in {404, 410}:
        raise DataNotFound(f"the source {url} has no such object (HTTP {status})")
    if status in {401, 403}:
        raise BackendAuthFailed(
            f"the source {url} refused this node's request (HTTP {status}); check the "
            "credential configured for it",
            upstream_status=status,
        )
    if status == 416:
        match = _UNSATISFIED_RANGE.match(response.headers.get("content-range", ""))
        raise RangeNotSatisfiable(
            f"the range is past the end of the source {url}",
            size=int(match.group(1)) if match else None,
        )
    raise BackendFailed(f"the source {url} answered HTTP {status}", upstream_status=status)


def _declared_length(response: StreamedResponse) -> int | None:
    if response.headers.get("content-encoding", "identity").lower() != "identity":
        return None  # decoded bytes will not match the encoded length
    if response.status == 206:
        match = _CONTENT_RANGE.match(response.headers.get("content-range", ""))
        return int(match.group(3)) if match and match.group(3) != "*" else None
    declared = response.headers.get("content-length", "")
    return int(declared) if declared.isdigit() else None


def _content_range(response: StreamedResponse, url: str) -> tuple[int, int, int | None]:
    match = _CONTENT_RANGE.match(response.headers.get("content-range", ""))
    if match is None or int(match.group(2)) < int(match.group(1)):
        raise BackendFailed(f"the source {url} answered 206 without a valid Content-Range")
    total = match.group(3)
    return int(match.group(1)), int(match.group(2)), None if total == "*" else int(total)


def _checked(chunks: Iterator[Chunk], url: str, *, skip: int, count: int | None) -> Iterator[bytes]:
    """Skip, cut to ``count``, and fail if the source delivers fewer bytes than announced."""
    remaining = count
    try:
        for piece in chunks:
            chunk = piece if isinstance(piece, bytes) else bytes(piece)
            if skip:
                dropped = min(skip, len(chunk))
                chunk, skip = chunk[dropped:], skip - dropped
            if remaining is not None:
                chunk = chunk[:remaining]
                remaining -= len(chunk)
            if chunk:
                yield chunk
            if remaining == 0:
                return
    except HansaError as exc:
        _failed(url, exc)
    if remaining:
        raise BackendFailed(f"the source {url} ended {remaining} bytes before the announced end")


def _failed(url: str, exc: HansaError) -> NoReturn:
    raise BackendFailed(
        f"the source {url} failed mid-stream: {exc.detail}", reason=exc.code
    ) from exc


def create_backend(config: DataPlaneConfig) -> HttpBackend:
    """Entry point ``HttpData``: over ``config.http_client``, or a guarded client of its own."""
    client = config.http_client or GuardedClient(config.http)
    return HttpBackend(client, chunk_size=config.chunk_size)
