"""hansa.chunk_buffers: buffers lent to a download's writer, reused only once given back."""

from __future__ import annotations

import ctypes
import mmap

import pytest

from hansa.chunk_buffers import ChunkBuffers

SIZE = 65_536


def lent_view(pool: ChunkBuffers, length: int = SIZE) -> memoryview:
    return pool.lend(pool.take(SIZE), length)


def test_a_buffer_is_reused_only_after_it_is_given_back() -> None:
    pool = ChunkBuffers()
    first = pool.take(SIZE)
    second = pool.take(SIZE)
    assert first is not second  # still lent: never handed out twice
    chunk = pool.lend(first, 100)
    pool.give_back(chunk)
    assert pool.take(SIZE) is first
    assert pool.take(SIZE) is not first


def test_a_buffer_given_back_twice_is_lent_once() -> None:
    """A chunk given back twice must not put its buffer in the free list twice."""
    pool = ChunkBuffers()
    buffer = pool.take(SIZE)
    chunk = pool.lend(buffer, SIZE)
    pool.give_back(chunk)
    pool.give_back(chunk)
    assert pool.take(SIZE) is buffer
    assert pool.take(SIZE) is not buffer


def test_a_stale_view_or_a_slice_does_not_give_back_a_buffer_lent_again() -> None:
    """Only the view a buffer was lent as last gives it back."""
    pool = ChunkBuffers()
    buffer = pool.take(SIZE)
    stale = pool.lend(buffer, SIZE)
    pool.give_back(stale)
    assert pool.take(SIZE) is buffer
    current = pool.lend(buffer, SIZE)
    pool.give_back(stale)  # its old reader, once more: the buffer is someone else's now
    pool.give_back(current[10:])
    assert pool.take(SIZE) is not buffer
    pool.give_back(current)
    assert pool.take(SIZE) is buffer


@pytest.mark.parametrize(
    "chunk",
    [b"bytes", memoryview(b"a view of bytes"), memoryview(bytearray(SIZE))],
    ids=["bytes", "bytes-view", "bytearray-view"],
)
def test_other_chunks_are_not_lent_and_giving_them_back_does_nothing(
    chunk: bytes | memoryview,
) -> None:
    pool = ChunkBuffers()
    assert not pool.is_lent(chunk)
    pool.give_back(chunk)
    assert pool._free == {}


def test_an_mmap_of_someone_else_is_not_taken() -> None:
    pool = ChunkBuffers()
    with mmap.mmap(-1, SIZE) as other:
        view = memoryview(other)
        pool.give_back(view)
        assert not pool.is_lent(view)
        view.release()
    assert pool.take(SIZE) is not other


def test_lent_views_are_page_aligned_read_only_and_recognised() -> None:
    pool = ChunkBuffers()
    buffer = pool.take(SIZE)
    assert ctypes.addressof(ctypes.c_char.from_buffer(buffer)) % mmap.PAGESIZE == 0
    chunk = pool.lend(buffer, 4096)
    assert pool.is_lent(chunk)
    assert chunk.readonly
    with pytest.raises(TypeError):
        chunk[0] = 1  # type: ignore[index]


def test_at_most_keep_free_buffers_are_kept_per_size() -> None:
    pool = ChunkBuffers(keep=2)
    chunks = [lent_view(pool) for _ in range(4)]
    for chunk in chunks:
        pool.give_back(chunk)
    assert len(pool._free[SIZE]) == 2
    other_size = pool.take(4096)
    assert len(other_size) == 4096  # sizes are kept apart
