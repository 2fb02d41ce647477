"""Page-aligned receive buffers, lent by a download to the writer that stores it.

On its way from the socket to the disk, every byte of a download was copied twice in the
consumer: out of the receive buffer into a new ``bytes`` per chunk, and into the File
backend's aligned buffer for ``O_DIRECT``. On this project's 2-core test machine those
copies were about 0.45 s of CPU per GiB, an eighth of a whole pull's
(``benchmarks/transfer.py``). Instead, the receiving side
(:meth:`hansa.fetch_stream.RawResponse.chunks` with ``lend=True``) reads each chunk into a
page-aligned buffer from :data:`BUFFERS` and lends it on as a read-only ``memoryview``; the
File backend writes that view straight to the disk and gives the buffer back, and the next
chunk is received into it.

The one rule: whoever gives a chunk back must be the last to read it. A chunk that nobody
gives back is freed like any other object, so code that keeps chunks (a multipart upload's
buffer, a list in a test) needs to know nothing of this.
"""

from __future__ import annotations

import mmap
import threading
from typing import TypeAlias

Chunk: TypeAlias = bytes | memoryview
"""A piece of a body: ``bytes``, or a read-only view of a lent buffer (see above)."""


class _Buffer(mmap.mmap):
    """An anonymous mapping: page-aligned, as ``O_DIRECT`` needs."""

    lent_view: int | None
    """``id()`` of the view it is lent out as; None while it is free or being filled."""


class ChunkBuffers:
    """Lends buffers and takes them back; keeps up to ``keep`` free buffers of each size."""

    def __init__(self, keep: int = 16) -> None:
        self.keep = keep
        self._free: dict[int, list[_Buffer]] = {}
        self._lock = threading.Lock()

    def take(self, size: int) -> mmap.mmap:
        """A buffer of ``size`` bytes to receive into (a given-back one when there is one)."""
        with self._lock:
            free = self._free.get(size)
            buffer = free.pop() if free else None
        if buffer is None:
            buffer = _Buffer(-1, size)
        buffer.lent_view = None
        return buffer

    def lend(self, buffer: mmap.mmap, length: int) -> memoryview:
        """The first ``length`` bytes of a taken ``buffer``, as the chunk to hand on."""
        view = memoryview(buffer)[:length].toreadonly()
        if isinstance(buffer, _Buffer):
            buffer.lent_view = id(view)
        return view

    def give_back(self, chunk: Chunk) -> None:
        """Take back the buffer ``chunk`` was lent as.

        Anything else is ignored: other chunks, slices, a chunk given back before, and a
        stale view of a buffer that has since been lent again.
        """
        if not isinstance(chunk, memoryview):
            return
        buffer = chunk.obj
        if not isinstance(buffer, _Buffer):
            return
        with self._lock:
            # Two live objects never share an id(), so this is the view lent last.
            if buffer.lent_view != id(chunk):
                return
            buffer.lent_view = None
            free = self._free.setdefault(len(buffer), [])
            if len(free) < self.keep:
                free.append(buffer)

    @staticmethod
    def is_lent(chunk: Chunk) -> bool:
        """Whether ``chunk`` views a lent buffer (page-aligned at its start, unless sliced)."""
        return isinstance(chunk, memoryview) and isinstance(chunk.obj, _Buffer)


BUFFERS = ChunkBuffers()
"""The process's pool: 1 MiB chunks of all downloads share it."""
