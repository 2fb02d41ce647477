"""Range parsing (RFC 9110), hashing while streaming, re-chunking."""

from __future__ import annotations

import hashlib

import pytest

from hansa.dataplane.errors import RangeNotSatisfiable
from hansa.dataplane.streaming import (
    ByteRange,
    HashingIterator,
    parse_range,
    rechunk,
    unsatisfied_content_range,
)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-", ByteRange(0, 999, 1000)),
        ("bytes=0-499", ByteRange(0, 499, 1000)),
        ("bytes=500-999", ByteRange(500, 999, 1000)),
        ("bytes=500-5000", ByteRange(500, 999, 1000)),  # end past the end: cut to the end
        ("bytes=-500", ByteRange(500, 999, 1000)),
        ("bytes=-5000", ByteRange(0, 999, 1000)),  # suffix longer than the object: all of it
        ("BYTES = 1 - 2", ByteRange(1, 2, 1000)),
        ("bytes=999-999", ByteRange(999, 999, 1000)),
        # Ignored (whole representation): other units, several ranges, bad syntax.
        ("items=0-5", None),
        ("bytes=0-1,5-6", None),
        ("bytes=5-1", None),
        ("bytes=-", None),
        ("bytes=abc", None),
    ],
)
def test_parse_range(header: str | None, expected: ByteRange | None) -> None:
    assert parse_range(header, 1000) == expected


@pytest.mark.parametrize(
    ("header", "size"),
    [
        ("bytes=1000-", 1000),
        ("bytes=2000-3000", 1000),
        ("bytes=-0", 1000),
        ("bytes=0-", 0),
        ("bytes=-5", 0),
    ],
)
def test_range_past_the_end_is_416(header: str, size: int) -> None:
    with pytest.raises(RangeNotSatisfiable) as caught:
        parse_range(header, size)
    assert caught.value.code == "dataplane.range_not_satisfiable"
    assert caught.value.status_code == 416
    assert unsatisfied_content_range(caught.value.size) == f"bytes */{size}"


def test_content_range_and_length() -> None:
    found = parse_range("bytes=10-19", 100)
    assert found is not None
    assert found.length == 10
    assert found.content_range() == "bytes 10-19/100"


def test_hashing_iterator_hashes_what_passed_through() -> None:
    chunks = [b"a" * 10, b"", b"b" * 7]
    hashing = HashingIterator(chunks)
    assert b"".join(hashing) == b"a" * 10 + b"b" * 7
    assert hashing.size == 17
    assert hashing.hexdigest() == hashlib.sha256(b"a" * 10 + b"b" * 7).hexdigest()


def test_rechunk_gives_exact_sizes() -> None:
    pieces = list(rechunk([b"abc", b"defgh", b"", b"ij"], 4))
    assert pieces == [b"abcd", b"efgh", b"ij"]


def test_hashing_can_be_handed_over_only_before_the_first_chunk() -> None:
    chunks = HashingIterator([b"ab", b"c"])
    taken = chunks.hand_over()
    for chunk in chunks:
        taken.update(chunk)  # the taker hashes; the iterator only counts
    assert (chunks.size, chunks.hexdigest()) == (3, hashlib.sha256(b"abc").hexdigest())
    started = HashingIterator([b"ab", b"c"])
    next(started)
    with pytest.raises(RuntimeError):
        started.hand_over()
