"""The consumer's side of an HTTP pull: download from a provider's data endpoint into a backend.

    result = pull(client, "https://provider/data/<transfer>", token, backend, destination)

The download goes through the guarded client's streaming GET, straight into
``backend.write`` (nothing is held in memory). Its chunks are received into buffers lent
from :data:`hansa.chunk_buffers.BUFFERS`, which the File backend writes without a copy and
gives back. When the connection breaks mid-body, it
resumes with ``Range: bytes=<received>-`` and ``If-Range: <ETag>`` up to ``max_resumes``
times. At the end the size must match ``Content-Length`` and the SHA-256 the provider's
``X-Content-SHA256``; otherwise the error is raised *inside* the write, so the backend
keeps nothing (files are renamed into place only after the last chunk, S3 multipart
uploads are aborted).

Errors: ``dataplane.pull_refused`` (the provider answered 4xx/5xx; its problem code is kept
as ``remote_code``, e.g. ``dataplane.agreement_revoked``), ``dataplane.integrity_failed``
(size or hash differ), ``dataplane.backend_failed`` (the connection kept failing, or the
provider could not resume).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

from hansa.chunk_buffers import Chunk
from hansa.dataplane.backends import CHUNK_SIZE, DataAddress, StorageBackend, WriteResult
from hansa.dataplane.errors import BackendFailed
from hansa.dataplane.streaming import HashingIterator
from hansa.errors import HansaError, UpstreamError
from hansa.fetch import GuardedClient, StreamedResponse

PULL_REFUSED = "dataplane.pull_refused"
INTEGRITY_FAILED = "dataplane.integrity_failed"
RESUMABLE = frozenset({"net.protocol_error", "net.timeout", "net.unreachable"})
MAX_PROBLEM_BYTES = 65_536
_CONTENT_RANGE_START = re.compile(r"^bytes (\d+)-\d+/(\d+|\*)$")


@dataclass(frozen=True)
class PullResult:
    """What arrived: size and SHA-256 (checked against the provider's, when it sent one)."""

    size: int
    sha256: str
    verified: bool
    """Whether the provider sent ``X-Content-SHA256`` and it matched."""
    resumes: int
    write: WriteResult


class _Download(HashingIterator[Chunk]):
    """The body as an iterable of chunks, resuming after broken connections.

    It hashes what it yields (once: a file backend uses this hash rather than its own) and
    checks size and hash after the last chunk, so a mismatch fails inside the write. A
    writer thread may take the hashing over (:meth:`hand_over`); it then calls
    :meth:`finish` after the last chunk, still inside the write.
    """

    def __init__(
        self, client: GuardedClient, url: str, token: str, max_resumes: int, chunk_size: int
    ) -> None:
        self._client, self._url, self._token = client, url, token
        self._max_resumes, self._chunk_size = max_resumes, chunk_size
        self.resumes = 0
        self.expected_size: int | None = None
        self.sha256: str | None = None
        self._etag: str | None = None
        self._verified = False
        super().__init__(self._resuming())

    @property
    def received(self) -> int:
        return self.size

    def __next__(self) -> Chunk:
        try:
            return super().__next__()
        except StopIteration:
            if not self._handed_over:
                self.finish()
            raise

    def finish(self) -> None:
        """Size and hash against what the provider announced (once the hash is complete)."""
        if not self._verified:
            self._verify()
            self._verified = True

    def _resuming(self) -> Iterator[Chunk]:
        while True:
            try:
                yield from self._attempt()
                return
            except HansaError as exc:
                if exc.code not in RESUMABLE or self.resumes >= self._max_resumes:
                    if exc.code in RESUMABLE:
                        raise BackendFailed(
                            f"the download from {self._url} broke {self.resumes + 1} times; "
                            f"last: {exc.detail}",
                            reason=exc.code,
                        ) from exc
                    raise
                self.resumes += 1

    def _attempt(self) -> Iterator[Chunk]:
        headers = {"Authorization": f"Bearer {self._token}", "Accept-Encoding": "identity"}
        if self.received:
            headers["Range"] = f"bytes={self.received}-"
            if self._etag:
                headers["If-Range"] = self._etag
        with self._client.stream_get(
            self._url, headers, chunk_size=self._chunk_size, lend=True
        ) as answer:
            self._accept(answer)
            yield from answer.chunks

    def _accept(self, answer: StreamedResponse) -> None:
        if answer.status not in {200, 206}:
            raise _refusal(answer)
        if self.received == 0:
            if answer.status != 200:
                raise BackendFailed(f"{self._url} answered {answer.status} to a plain GET")
            length = answer.headers.get("content-length", "")
            self.expected_size = int(length) if length.isdigit() else None
            self.sha256 = answer.headers.get("x-content-sha256")
            self._etag = answer.headers.get("etag")
            return
        match = _CONTENT_RANGE_START.match(answer.headers.get("content-range", ""))
        if answer.status != 206 or match is None or int(match.group(1)) != self.received:
            raise BackendFailed(
                f"{self._url} could not resume the download at byte {self.received} (it "
                f"answered {answer.status}, the data may have changed)"
            )

    def _verify(self) -> None:
        if self.expected_size is not None and self.received != self.expected_size:
            raise BackendFailed(
                f"{self._url} announced {self.expected_size} bytes but sent {self.received}",
                code=INTEGRITY_FAILED,
            )
        if self.sha256 and self.hexdigest() != self.sha256.lower():
            raise BackendFailed(
                f"the data from {self._url} does not match its X-Content-SHA256: it was altered "
                "on the way or changed at the source",
                code=INTEGRITY_FAILED,
            )


def _refusal(answer: StreamedResponse) -> UpstreamError:
    body = bytearray()
    for chunk in answer.chunks:
        body += chunk
        if len(body) > MAX_PROBLEM_BYTES:
            break
    remote_code: str | None = None
    detail = ""
    if answer.headers.get("content-type", "").startswith("application/problem+json"):
        try:
            problem = json.loads(bytes(body[:MAX_PROBLEM_BYTES]))
        except ValueError:
            problem = None
        if isinstance(problem, dict):
            remote_code = str(problem.get("code") or "") or None
            detail = str(problem.get("detail") or "")
    what = f"HTTP {answer.status}" + (f", {remote_code}" if remote_code else "")
    return UpstreamError(
        f"the provider refused the download ({what})" + (f": {detail[:300]}" if detail else ""),
        code=PULL_REFUSED,
        remote_code=remote_code,
        upstream_status=answer.status,
    )


def pull(
    client: GuardedClient,
    url: str,
    token: str,
    backend: StorageBackend,
    destination: DataAddress,
    *,
    content_type: str | None = None,
    max_resumes: int = 3,
    chunk_size: int = CHUNK_SIZE,
) -> PullResult:
    """Download ``url`` (a provider's data endpoint) with ``token`` into ``destination``."""
    download = _Download(client, url, token, max_resumes, chunk_size)
    written = backend.write(destination, download, content_type=content_type)
    return PullResult(
        size=download.received,
        sha256=download.hexdigest(),
        verified=bool(download.sha256),
        resumes=download.resumes,
        write=written,
    )
