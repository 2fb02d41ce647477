"""Search requests and answers, independent of the full-text backend.

A query is free text (every word must match, each as a prefix: ``mobil`` finds
``mobility``) plus facet filters (values of one facet are OR-ed, facets are AND-ed). Pages
are addressed by number or by an opaque cursor: an HMAC over the query and the offset, so
a cursor cannot be forged or moved to another query (``catalogue.invalid_cursor``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hansa.errors import BadRequest

FACETS: tuple[str, ...] = (
    "type",
    "provider",
    "label",
    "keyword",
    "format",
    "country",
    "licence",
    "price_model",
)
MAX_TERMS = 16
MAX_TERM_LENGTH = 64
MAX_PAGE_SIZE = 100
MAX_OFFSET = 10_000
#: Marks around matched words in highlights (private-use characters: never in real text).
MARK_START = "\ue000"
MARK_END = "\ue001"
_WORD = re.compile(r"\w+", re.UNICODE)


def match_terms(text: str) -> list[str]:
    """The words of a free-text query, lower-cased; the query syntax is never passed through."""
    terms: list[str] = []
    for word in _WORD.findall(text.lower()):
        word = word.replace("_", "")[:MAX_TERM_LENGTH]
        if word and word not in terms:
            terms.append(word)
    return terms[:MAX_TERMS]


@dataclass(frozen=True)
class SearchQuery:
    """What to find: words, facet filters, and which slice of the ranked results."""

    terms: tuple[str, ...] = ()
    filters: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    offset: int = 0
    size: int = 20
    facet_limit: int = 20

    def key(self) -> str:
        """A canonical form of everything but the slice (cursors are bound to it)."""
        return json.dumps(
            {"t": list(self.terms), "f": {k: sorted(v) for k, v in sorted(self.filters.items())}},
            separators=(",", ":"),
        )


def _facet_value(facet: str, value: str) -> str:
    """A filter value as facets store it: keywords lower-cased, types without a prefix."""
    value = value.strip()
    if facet == "keyword":
        value = value.lower()
    elif facet == "type":
        value = re.split(r"[#/:]", value)[-1]
    return value[:256]


def build_query(
    text: str | None,
    filters: Mapping[str, Sequence[str]],
    *,
    size: int = 20,
) -> SearchQuery:
    """A :class:`SearchQuery` from request parameters (unknown facets are refused)."""
    clean: dict[str, tuple[str, ...]] = {}
    for facet, values in filters.items():
        if facet not in FACETS:
            raise BadRequest(
                f"{facet!r} is not a facet; filter by one of {', '.join(FACETS)}",
                code="catalogue.unknown_facet",
                pointer=f"query:{facet}",
            )
        kept = tuple(dict.fromkeys(_facet_value(facet, v) for v in values if v.strip()))
        if kept:
            clean[facet] = kept[:32]
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise BadRequest(
            f"size must be between 1 and {MAX_PAGE_SIZE}",
            code="catalogue.invalid_page",
            pointer="query:size",
        )
    return SearchQuery(terms=tuple(match_terms(text or "")), filters=clean, size=size)


@dataclass(frozen=True)
class EntrySummary:
    """What a result list shows of an entry (no originals: they are large)."""

    number: int
    id: str
    subject: str
    kind: str
    owner: str
    label_level: str
    document: dict[str, Any]
    provider_name: str | None


@dataclass
class Hit:
    number: int
    rank: float
    highlights: dict[str, str] = field(default_factory=dict)
    entry: EntrySummary | None = None


@dataclass
class SearchPage:
    hits: list[Hit]
    total: int
    facets: dict[str, list[tuple[str, int]]]


def _fold(word: str) -> str:
    """Case and diacritics folded, as FTS5's ``unicode61 remove_diacritics 2`` folds them."""
    if word.isascii():
        return word.lower()
    decomposed = unicodedata.normalize("NFKD", word.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def highlight(text: str, terms: Sequence[str], *, window: int | None = None) -> str | None:
    """``text`` with every word that starts with one of ``terms`` marked; None if none does.

    ``window``: cut to about that many words around the first match (a snippet, with "…").
    """
    if not terms or not text:
        return None
    words = list(_WORD.finditer(text))
    prefixes = tuple(terms)
    matched = [m for m in words if _fold(m.group()).startswith(prefixes)]
    if not matched:
        return None
    start, end, prefix, suffix = 0, len(text), "", ""
    if window is not None and len(words) > window:
        first = words.index(matched[0])
        low = max(0, min(first - window // 3, len(words) - window))
        high = min(len(words), low + window)
        start, end = words[low].start(), words[high - 1].end()
        prefix, suffix = ("…" if low else ""), ("…" if high < len(words) else "")
    parts, cursor = [prefix], start
    for match in matched:
        if match.start() < start or match.end() > end:
            continue
        parts += [text[cursor : match.start()], MARK_START, match.group(), MARK_END]
        cursor = match.end()
    parts += [text[cursor:end], suffix]
    return "".join(parts)


def marked_html(text: str) -> str:
    """Backend highlight output as safe HTML: the text escaped, matches in ``<mark>``."""
    escaped = html.escape(text.replace(MARK_START, "\0s").replace(MARK_END, "\0e"))
    return escaped.replace("\0s", "<mark>").replace("\0e", "</mark>")


def top_facets(
    rows: Sequence[tuple[str, str, int]], limit: int
) -> dict[str, list[tuple[str, int]]]:
    """Facet counts grouped by facet, most frequent first, at most ``limit`` per facet."""
    grouped: dict[str, list[tuple[str, int]]] = {facet: [] for facet in FACETS}
    for facet, value, count in rows:
        if facet in grouped:
            grouped[facet].append((value, int(count)))
    return {
        facet: sorted(values, key=lambda item: (-item[1], item[0]))[:limit]
        for facet, values in grouped.items()
    }


class CursorCodec:
    """Opaque, tamper-proof page cursors: ``base64url(offset . hmac(query, offset))``."""

    def __init__(self, secret: bytes) -> None:
        self._key = hashlib.sha256(b"hansa catalogue cursor\0" + secret).digest()

    def _mac(self, query: SearchQuery, offset: int) -> bytes:
        message = f"{offset}\n{query.key()}".encode()
        return hmac.new(self._key, message, hashlib.sha256).digest()[:16]

    def encode(self, query: SearchQuery, offset: int) -> str:
        raw = offset.to_bytes(4, "big") + self._mac(query, offset)
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")

    def decode(self, query: SearchQuery, cursor: str) -> int:
        """The offset a cursor stands for; ``catalogue.invalid_cursor`` if forged or foreign."""
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        except ValueError:
            raw = b""
        if len(raw) == 20:
            offset = int.from_bytes(raw[:4], "big")
            if offset <= MAX_OFFSET and hmac.compare_digest(raw[4:], self._mac(query, offset)):
                return offset
        raise BadRequest(
            "the cursor is not one this catalogue gave out for this query; start again "
            "without a cursor",
            code="catalogue.invalid_cursor",
            pointer="query:cursor",
        )
