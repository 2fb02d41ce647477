"""The storage backend interface, the registry that finds backends, and an in-memory double.

A backend reads and writes the bytes behind one type of data address (``File``,
``AmazonS3``, ``HttpData``). The interface is three methods, like an httpx transport::

    with backend.open(address, offset=0, length=None) as stream:   # a ReadStream
        for chunk in stream.chunks: ...                              # ~1 MiB each
    backend.write(address, chunks) -> WriteResult(size, sha256)  # chunks: bytes or memoryview
    backend.stat(address) -> ObjectInfo(size, content_type, etag)

Backends are found through the entry point group ``hansa.storage_backends``: the entry
point's name is the data address type and its value a ``create_backend(config)``
constructor (PyPI Warehouse style). The built-ins register there the same way a third
party would::

    [project.entry-points."hansa.storage_backends"]
    File = "hansa.dataplane.backend_files:create_backend"

:class:`MemoryBackend` ships with the interface, for tests of code that uses backends.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from hansa.chunk_buffers import Chunk
from hansa.dataplane.errors import (
    BACKEND_MISCONFIGURED,
    DataNotFound,
    RangeNotSatisfiable,
    UnknownBackend,
)
from hansa.fetch import GuardedClient
from hansa.settings import HttpSettings, Settings

ENTRY_POINT_GROUP = "hansa.storage_backends"
CHUNK_SIZE = 1_048_576
"""1 MiB: Starlette's 64 KiB file chunks reach ~0.3x of a static server, 1 MiB ~1x."""

DataAddress = Mapping[str, Any]


@dataclass(frozen=True)
class ObjectInfo:
    """What a backend knows about an object without reading it."""

    size: int | None
    content_type: str | None = None
    etag: str | None = None
    sha256: str | None = None
    """Hex SHA-256 of the whole object, where the backend stores it."""


@dataclass
class ReadStream:
    """An open read: ``chunks`` yields the bytes of ``[offset, offset + length)``.

    ``size`` is the whole object's size (for ``Content-Range``), ``length`` the number of
    bytes ``chunks`` yields (both ``None`` when the source does not say). A backend
    raises ``dataplane.backend_failed`` from ``chunks`` rather than end it early.
    """

    chunks: Iterator[bytes]
    size: int | None
    offset: int = 0
    length: int | None = None
    content_type: str | None = None
    etag: str | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class WriteResult:
    """What was written: its size and hex SHA-256, computed while streaming."""

    size: int
    sha256: str
    etag: str | None = None


@runtime_checkable
class StorageBackend(Protocol):
    """Reads and writes the bytes behind one type of data address."""

    def open(
        self, address: DataAddress, *, offset: int = 0, length: int | None = None
    ) -> AbstractContextManager[ReadStream]:
        """Open ``length`` bytes (all, when ``None``) from ``offset`` for streaming."""
        ...

    def write(
        self, address: DataAddress, chunks: Iterable[Chunk], *, content_type: str | None = None
    ) -> WriteResult:
        """Write ``chunks`` to ``address`` (whole or not at all, where the store allows).

        A chunk is ``bytes`` or a read-only ``memoryview``: a download's buffer, lent
        (:mod:`hansa.chunk_buffers`); a writer may keep it, or give it back after its last
        read of it.
        """
        ...

    def stat(self, address: DataAddress) -> ObjectInfo:
        """Size, type and ETag of the object at ``address`` (``dataplane.not_found``)."""
        ...


@dataclass(frozen=True)
class S3Config:
    """How this node reaches S3: its own credentials, never ones from a data address."""

    access_key_id: str | None = None
    secret_access_key: str | None = None
    session_token: str | None = None
    region: str = "eu-central-1"
    endpoint_url: str | None = None
    """An S3-compatible endpoint (MinIO, Ceph, a test server); AWS when unset."""
    allowed_endpoints: frozenset[str] = frozenset()
    """Endpoints a data address may name besides ``endpoint_url`` (SSRF: off by default)."""
    part_size: int = 8 * CHUNK_SIZE
    """Writes larger than this go up as a multipart upload of parts of this size (>= 5 MiB)."""
    connect_timeout: float = 10.0
    read_timeout: float = 60.0


@dataclass(frozen=True)
class DataPlaneConfig:
    """Everything a backend constructor may need; the node builds it from its Settings."""

    file_root: Path | None = None
    http: HttpSettings = field(default_factory=HttpSettings)
    http_client: GuardedClient | None = None
    """The guarded client for HttpData sources; built from ``http`` when unset."""
    s3: S3Config = field(default_factory=S3Config)
    chunk_size: int = CHUNK_SIZE


def config_from_settings(
    settings: Settings,
    *,
    s3: S3Config | None = None,
    http_client: GuardedClient | None = None,
) -> DataPlaneConfig:
    """The data plane's config for a node: files under ``data_dir/files``, its HTTP limits."""
    return DataPlaneConfig(
        file_root=settings.data_dir / "files",
        http=settings.http,
        http_client=http_client,
        s3=s3 or S3Config(),
    )


BackendFactory = Callable[[DataPlaneConfig], StorageBackend]


def available_backends() -> dict[str, Callable[[], BackendFactory]]:
    """Registered backend types, each with a loader for its constructor (not yet imported)."""
    found: dict[str, Callable[[], BackendFactory]] = {}
    for point in entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(point.name, point.load)
    return found


class BackendRegistry:
    """The node's backends by data address type, each built once on first use."""

    def __init__(
        self,
        config: DataPlaneConfig,
        factories: Mapping[str, BackendFactory] | None = None,
    ) -> None:
        """``factories`` replaces the entry points (tests, or a node with a fixed set)."""
        self._config = config
        self._factories = dict(factories) if factories is not None else None
        self._built: dict[str, StorageBackend] = {}
        self._lock = threading.Lock()

    def types(self) -> list[str]:
        """The data address types this registry can serve."""
        names = self._factories if self._factories is not None else available_backends()
        return sorted(names)

    def for_type(self, kind: str) -> StorageBackend:
        """The backend for data addresses of ``kind`` (``dataplane.unknown_backend``)."""
        with self._lock:
            if kind in self._built:
                return self._built[kind]
            backend = self._factory(kind)(self._config)
            if not isinstance(backend, StorageBackend):
                raise UnknownBackend(
                    f"the backend registered for {kind!r} does not implement open/write/stat",
                    code=BACKEND_MISCONFIGURED,
                )
            self._built[kind] = backend
            return backend

    def for_address(self, address: DataAddress) -> StorageBackend:
        """The backend for ``address`` (by its ``type``)."""
        return self.for_type(str(address.get("type")))

    def _factory(self, kind: str) -> BackendFactory:
        if self._factories is not None:
            factory = self._factories.get(kind)
        else:
            loader = available_backends().get(kind)
            factory = loader() if loader is not None else None
        if factory is None:
            raise UnknownBackend(
                f"no storage backend is installed for data address type {kind!r}; installed: "
                f"{', '.join(self.types()) or 'none'} (entry point group {ENTRY_POINT_GROUP})",
                kind=kind,
            )
        return factory


def clamp_range(size: int, offset: int, length: int | None) -> tuple[int, int]:
    """``(offset, length)`` cut to an object of ``size`` bytes; 416 if offset is past the end."""
    if offset < 0 or (length is not None and length < 0):
        raise ValueError("offset and length must not be negative")
    if offset > size or (offset == size and size > 0):
        raise RangeNotSatisfiable(
            f"the range starts at byte {offset}, but the object has {size} bytes", size=size
        )
    end = size if length is None else min(size, offset + length)
    return offset, end - offset


def chunked(data: bytes, size: int) -> Iterator[bytes]:
    """``data`` in pieces of ``size`` bytes."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


class MemoryBackend:
    """An in-memory backend keyed by the address's ``key`` (or ``path``): the test double."""

    def __init__(self, chunk_size: int = CHUNK_SIZE) -> None:
        self.objects: dict[str, tuple[bytes, str | None]] = {}
        self.chunk_size = chunk_size
        self._lock = threading.Lock()

    @staticmethod
    def _key(address: DataAddress) -> str:
        return str(address.get("key") or address.get("path") or address.get("baseUrl"))

    def _get(self, address: DataAddress) -> tuple[bytes, str | None]:
        with self._lock:
            found = self.objects.get(self._key(address))
        if found is None:
            raise DataNotFound(f"no object at {self._key(address)!r}")
        return found

    @contextlib.contextmanager
    def open(
        self, address: DataAddress, *, offset: int = 0, length: int | None = None
    ) -> Iterator[ReadStream]:
        """Open a slice of a stored object."""
        data, content_type = self._get(address)
        start, count = clamp_range(len(data), offset, length)
        yield ReadStream(
            chunks=chunked(data[start : start + count], self.chunk_size),
            size=len(data),
            offset=start,
            length=count,
            content_type=content_type,
            etag=_etag(data),
            sha256=hashlib.sha256(data).hexdigest(),
        )

    def write(
        self, address: DataAddress, chunks: Iterable[Chunk], *, content_type: str | None = None
    ) -> WriteResult:
        """Store the joined chunks under the address's key."""
        data = b"".join(chunks)
        with self._lock:
            self.objects[self._key(address)] = (data, content_type)
        return WriteResult(len(data), hashlib.sha256(data).hexdigest(), _etag(data))

    def stat(self, address: DataAddress) -> ObjectInfo:
        """Size, type, ETag and hash of a stored object."""
        data, content_type = self._get(address)
        return ObjectInfo(len(data), content_type, _etag(data), hashlib.sha256(data).hexdigest())


def _etag(data: bytes) -> str:
    return '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
