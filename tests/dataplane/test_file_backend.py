"""The File backend on real files in tmp_path: chunks, ranges, traversal, atomic writes."""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
from pathlib import Path

import pytest

from hansa.chunk_buffers import BUFFERS
from hansa.dataplane.backend_files import FileBackend, create_backend
from hansa.dataplane.backends import (
    BackendRegistry,
    DataPlaneConfig,
    MemoryBackend,
    StorageBackend,
    available_backends,
    config_from_settings,
)
from hansa.dataplane.errors import RangeNotSatisfiable
from hansa.dataplane.streaming import HashingIterator
from hansa.errors import HansaError
from hansa.settings import Settings

MIB = 1_048_576


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "files"
    root.mkdir()
    return root


@pytest.fixture
def data() -> bytes:
    return os.urandom(2 * MIB + 123)


@pytest.fixture
def backend(root: Path, data: bytes) -> FileBackend:
    (root / "weather").mkdir()
    (root / "weather" / "2026.csv").write_bytes(data)
    return FileBackend(root)


def read_all(
    backend: StorageBackend, address: dict[str, str], **kw: int
) -> tuple[bytes, list[int]]:
    with backend.open(address, **kw) as stream:  # type: ignore[arg-type]
        chunks = list(stream.chunks)
    return b"".join(chunks), [len(c) for c in chunks]


def test_reads_the_whole_file_in_1_mib_chunks(backend: FileBackend, data: bytes) -> None:
    address = {"type": "File", "path": "weather/2026.csv"}
    body, sizes = read_all(backend, address)
    assert body == data
    assert sizes == [MIB, MIB, 123]
    with backend.open(address) as stream:
        assert stream.size == len(data)
        assert stream.content_type == "text/csv"
        assert stream.etag == backend.stat(address).etag


@pytest.mark.parametrize(
    ("offset", "length"), [(0, 10), (MIB - 5, 10), (2 * MIB, None), (5, 10 * MIB)]
)
def test_reads_a_range(backend: FileBackend, data: bytes, offset: int, length: int | None) -> None:
    body, _ = read_all(
        backend,
        {"type": "File", "path": "weather/2026.csv"},
        offset=offset,
        **({"length": length} if length is not None else {}),
    )
    end = len(data) if length is None else offset + length
    assert body == data[offset:end]


def test_range_past_the_end(backend: FileBackend, data: bytes) -> None:
    with pytest.raises(RangeNotSatisfiable) as caught:
        read_all(backend, {"type": "File", "path": "weather/2026.csv"}, offset=len(data))
    assert caught.value.size == len(data)


@pytest.mark.parametrize(
    "path",
    [
        "../outside.txt",
        "weather/../../outside.txt",
        "/etc/passwd",
        "escape/secret",
        "link.csv",
        "a\x00b",
    ],
)
def test_paths_leading_out_are_refused(backend: FileBackend, root: Path, path: str) -> None:
    outside = root.parent / "outside"
    outside.mkdir()
    (outside / "secret").write_text("secret")
    (root / "escape").symlink_to(outside)
    (root / "link.csv").symlink_to(outside / "secret")
    address = {"type": "File", "path": path}
    for attempt in (
        lambda: read_all(backend, address),
        lambda: backend.stat(address),
        lambda: backend.write(address, [b"x"]),
    ):
        with pytest.raises(HansaError) as caught:
            attempt()
        assert caught.value.code == "dataplane.path_traversal"
        assert caught.value.status_code == 403
    assert (outside / "secret").read_text() == "secret"


def test_symlink_inside_the_root_is_followed(backend: FileBackend, root: Path, data: bytes) -> None:
    (root / "latest.csv").symlink_to(root / "weather" / "2026.csv")
    body, _ = read_all(backend, {"type": "File", "path": "latest.csv"})
    assert body == data


@pytest.mark.parametrize("path", ["missing.csv", "weather"])
def test_missing_file_or_directory_is_not_found(backend: FileBackend, path: str) -> None:
    with pytest.raises(HansaError) as caught:
        read_all(backend, {"type": "File", "path": path})
    assert caught.value.code == "dataplane.not_found"
    assert caught.value.status_code == 404


def test_file_shrinking_while_read_fails_instead_of_a_short_body(
    backend: FileBackend, root: Path
) -> None:
    address = {"type": "File", "path": "weather/2026.csv"}
    with backend.open(address) as stream:
        next(stream.chunks)
        os.truncate(root / "weather" / "2026.csv", MIB + 10)
        with pytest.raises(HansaError) as caught:
            list(stream.chunks)
    assert caught.value.code == "dataplane.backend_failed"


def test_write_is_atomic_and_hashed(backend: FileBackend, root: Path) -> None:
    payload = [os.urandom(MIB), os.urandom(100)]
    result = backend.write({"type": "File", "path": "out/new.bin"}, payload)
    assert result.size == MIB + 100
    assert result.sha256 == hashlib.sha256(b"".join(payload)).hexdigest()
    assert (root / "out" / "new.bin").read_bytes() == b"".join(payload)

    def failing() -> list[bytes]:
        raise RuntimeError("source broke")

    def broken_source():  # type: ignore[no-untyped-def]
        yield b"partial"
        failing()

    with pytest.raises(RuntimeError):
        backend.write({"type": "File", "path": "out/new.bin"}, broken_source())
    # The old content is intact and no temporary file is left behind.
    assert (root / "out" / "new.bin").read_bytes() == b"".join(payload)
    assert sorted(p.name for p in (root / "out").iterdir()) == ["new.bin"]


def test_builtins_register_through_entry_points(root: Path) -> None:
    assert {"File", "AmazonS3", "HttpData"} <= set(available_backends())
    registry = BackendRegistry(DataPlaneConfig(file_root=root))
    backend = registry.for_address({"type": "File", "path": "x"})
    assert isinstance(backend, FileBackend)
    assert registry.for_type("File") is backend
    with pytest.raises(HansaError) as caught:
        registry.for_type("Ftp")
    assert caught.value.code == "dataplane.unknown_backend"
    with pytest.raises(HansaError) as caught:
        create_backend(DataPlaneConfig())
    assert caught.value.code == "dataplane.backend_misconfigured"


def test_config_from_settings(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, http={"timeout_seconds": 3.0})
    config = config_from_settings(settings)
    assert config.file_root == tmp_path / "files"
    assert config.http.timeout_seconds == 3.0
    assert config.chunk_size == MIB


def test_registry_with_a_third_party_factory_and_the_memory_double() -> None:
    memory = MemoryBackend(chunk_size=4)
    registry = BackendRegistry(DataPlaneConfig(), {"Memory": lambda config: memory})
    assert registry.types() == ["Memory"]
    backend = registry.for_type("Memory")
    result = backend.write({"type": "Memory", "key": "k"}, [b"hello ", b"world"])
    assert result.size == 11
    body, sizes = read_all(backend, {"type": "Memory", "key": "k"}, offset=2, length=6)
    assert body == b"llo wo"
    assert sizes == [4, 2]
    assert backend.stat({"type": "Memory", "key": "k"}).sha256 == result.sha256
    with pytest.raises(HansaError) as caught:
        backend.stat({"type": "Memory", "key": "missing"})
    assert caught.value.code == "dataplane.not_found"


def test_write_takes_the_hash_of_chunks_that_hash_themselves(
    backend: FileBackend, root: Path
) -> None:
    payload = [os.urandom(1000), os.urandom(10)]
    expected = hashlib.sha256(b"".join(payload)).hexdigest()
    fresh = HashingIterator(payload)
    assert backend.write({"type": "File", "path": "a.bin"}, fresh).sha256 == expected
    # One already partly read hashed bytes that are not written: the backend hashes itself.
    started = HashingIterator([b"not written", *payload])
    next(started)
    assert backend.write({"type": "File", "path": "b.bin"}, started).sha256 == expected
    assert (root / "b.bin").read_bytes() == b"".join(payload)


def test_a_large_write_is_written_back_on_the_way_and_arrives_whole(
    backend: FileBackend, root: Path
) -> None:
    block = os.urandom(MIB)
    chunks = [block] * 33 + [b"tail"]  # past the 32 MiB write-back step
    result = backend.write({"type": "File", "path": "big.bin"}, chunks)
    assert result.size == 33 * MIB + 4
    assert result.sha256 == hashlib.sha256(b"".join(chunks)).hexdigest()
    with (root / "big.bin").open("rb") as written:
        assert hashlib.sha256(written.read()).hexdigest() == result.sha256


WRITE_SIZES = [0, 1, 4095, 4096, MIB - 1, MIB, MIB + 1, 3 * MIB + 12_345]


def _pieces(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("direct", [True, False], ids=["direct", "page-cache"])
@pytest.mark.parametrize("length", WRITE_SIZES)
def test_a_written_file_has_exactly_the_bytes_given(
    root: Path, monkeypatch: pytest.MonkeyPatch, direct: bool, length: int
) -> None:
    """Direct writes pad the last piece to 4 KiB and cut the file back; pieces of any size
    (here 700,001 bytes, across the 1 MiB buffer's edges) arrive in order."""
    if not direct:
        monkeypatch.delattr(os, "O_DIRECT", raising=False)
    data = os.urandom(length)
    result = FileBackend(root).write({"type": "File", "path": "w.bin"}, _pieces(data, 700_001))
    assert (result.size, result.sha256) == (length, hashlib.sha256(data).hexdigest())
    assert (root / "w.bin").read_bytes() == data


def test_downloads_bypass_the_page_cache_where_the_file_system_allows(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    direct = getattr(os, "O_DIRECT", 0)
    if not direct:
        pytest.skip("no O_DIRECT on this system")
    written_direct: list[int] = []
    real_write = os.write

    def spying_write(fd: int, data: bytes) -> int:
        if fcntl.fcntl(fd, fcntl.F_GETFL) & direct:
            written_direct.append(len(data))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", spying_write)
    data = os.urandom(2 * MIB + 5)
    FileBackend(root).write({"type": "File", "path": "d.bin"}, [data])
    if not written_direct:
        pytest.skip("this file system refuses O_DIRECT (the cached path is tested above)")
    assert written_direct == [MIB, MIB, 4096]
    assert (root / "d.bin").read_bytes() == data


def _lent(data: bytes, size: int = MIB) -> list[memoryview]:
    """``data`` in views of buffers lent from the pool, as a download hands them on."""
    chunks = []
    for start in range(0, len(data), size):
        buffer = BUFFERS.take(size)
        piece = data[start : start + size]
        buffer[: len(piece)] = piece
        chunks.append(BUFFERS.lend(buffer, len(piece)))
    return chunks


def _spy_direct_writes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[object, int]]:
    """Each O_DIRECT write's buffer (the object under the view) and length."""
    direct = getattr(os, "O_DIRECT", 0)
    if not direct:
        pytest.skip("no O_DIRECT on this system")
    written: list[tuple[object, int]] = []
    real_write = os.write

    def spying_write(fd: int, data: bytes | memoryview) -> int:
        done = real_write(fd, data)
        if fcntl.fcntl(fd, fcntl.F_GETFL) & direct:
            written.append((data.obj if isinstance(data, memoryview) else data, done))
        return done

    monkeypatch.setattr(os, "write", spying_write)
    return written


def test_lent_buffers_are_written_as_they_are_and_given_back(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A download's buffers go to the disk without a copy, then back to the pool."""
    written = _spy_direct_writes(monkeypatch)
    data = os.urandom(3 * MIB + 5000)
    chunks = _lent(data)
    buffers = [chunk.obj for chunk in chunks]
    result = FileBackend(root).write({"type": "File", "path": "l.bin"}, chunks)
    if not written:
        pytest.skip("this file system refuses O_DIRECT (the cached path is tested above)")
    assert (result.size, result.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert (root / "l.bin").read_bytes() == data
    # Three whole buffers straight from the pool, the 5000-byte tail gathered and padded.
    assert [(b, n) for b, n in written[:3]] == [(b, MIB) for b in buffers[:3]]
    assert [n for _, n in written[3:]] == [8192]
    assert all(buffer.lent_view is None for buffer in buffers)  # type: ignore[attr-defined]
    assert BUFFERS.take(MIB) in buffers


def test_lent_buffers_after_odd_pieces_or_unaligned_are_copied_and_arrive_whole(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    written = _spy_direct_writes(monkeypatch)
    data = os.urandom(4 * MIB)
    first, second = _lent(data[: 2 * MIB])
    # A slice of a lent buffer that starts mid-page: the kernel refuses it for O_DIRECT.
    buffer = BUFFERS.take(2 * MIB)
    buffer[100 : 100 + MIB] = data[2 * MIB : 3 * MIB]
    unaligned = memoryview(buffer)[100 : 100 + MIB].toreadonly()
    chunks: list[bytes | memoryview] = [
        data[:1000],
        first[1000:],  # after 1000 bytes of bytes: gathered, not written from the buffer
        second,
        unaligned,
        data[3 * MIB :],
    ]
    result = FileBackend(root).write({"type": "File", "path": "m.bin"}, chunks)
    assert result.size == len(data)
    assert (root / "m.bin").read_bytes() == data
    if not written:
        pytest.skip("this file system refuses O_DIRECT (the cached path is tested above)")
    assert [n for _, n in written] == [MIB] * 4
    assert written[1][0] is second.obj
    assert all(b not in (first.obj, buffer) for b, _ in written)


@pytest.mark.parametrize("length", [10, MIB + 10])
def test_a_file_system_refusing_direct_writes_gets_them_through_the_cache(
    root: Path, monkeypatch: pytest.MonkeyPatch, length: int
) -> None:
    """Some file systems take the O_DIRECT flag but fail the write with EINVAL."""
    direct = getattr(os, "O_DIRECT", 0)
    if not direct:
        pytest.skip("no O_DIRECT on this system")
    real_write = os.write

    def refusing_write(fd: int, data: bytes) -> int:
        if fcntl.fcntl(fd, fcntl.F_GETFL) & direct:
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", refusing_write)
    data = os.urandom(length)
    result = FileBackend(root).write({"type": "File", "path": "c.bin"}, _pieces(data, 300_000))
    assert result.size == length
    assert (root / "c.bin").read_bytes() == data
    lent = FileBackend(root).write({"type": "File", "path": "c2.bin"}, _lent(data))
    assert lent.size == length
    assert (root / "c2.bin").read_bytes() == data


@pytest.mark.parametrize("code", [errno.EIO, errno.EINVAL], ids=["EIO", "EINVAL"])
def test_a_disk_failing_mid_write_leaves_no_file(
    root: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    """Also a direct write refused after others were taken: no way back to the cache."""
    real_write = os.write
    calls = 0

    def failing_write(fd: int, data: bytes) -> int:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise OSError(code, os.strerror(code))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", failing_write)
    with pytest.raises(OSError, match=os.strerror(code)) as caught:
        FileBackend(root).write({"type": "File", "path": "e.bin"}, [os.urandom(3 * MIB)])
    assert caught.value.errno == code
    assert list(root.iterdir()) == []
