"""Full-text index of the catalogue behind one small interface: SQLite FTS5 or PostgreSQL.

Both live in the node's own database, next to the entries, hold the active entries only,
and are written in the same transaction as the entries, so search never sees an entry its
index does not (or the other way round). They are projections: :meth:`FullTextIndex.clear`
and re-adding every entry rebuilds them. Their tables are created here (``IF NOT
EXISTS``), not by a migration: an FTS5 virtual table and its shadow tables cannot be
declared as SQLAlchemy models.

Each indexed entry carries its facet values and the end of its validity, so one statement
finds the whole match set with rank and facet values: filters are part of the match (posting
lists or array containment, inside the database), counts are made from the same rows, and
only the page's entries are read again. Highlights are made from the page's own texts
(:func:`hansa.catalogue.search.highlight`), the way both tokenizers split and fold words:
FTS5's ``highlight()`` or ``ts_headline`` would run the match a second time.

- SQLite: an FTS5 table (``unicode61`` with diacritics folded, prefix indexes of 2 and 3
  characters), ranked by ``bm25`` with the name weighted highest; facet values are tokens
  of a ``facets`` column that weighs nothing in the rank.
- PostgreSQL: a table with a generated, weighted ``tsvector`` (``simple`` configuration: a
  multilingual catalogue gets no one language's stemming) and GIN indexes on it and on a
  ``text[]`` of facet values; prefix queries (``word:*``), ranked by ``ts_rank_cd``.
"""

from __future__ import annotations

import heapq
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import chain
from operator import itemgetter
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, bindparam, select, text
from sqlalchemy.orm import Session, aliased

from hansa.catalogue.models import CatalogueEntry
from hansa.catalogue.offering import PARTICIPANT_TYPES
from hansa.catalogue.search import (
    EntrySummary,
    Hit,
    SearchPage,
    SearchQuery,
    highlight,
    top_facets,
)

MatchRow = tuple[int, float, Any]
"""An entry in the match set: its number, rank (lower is better) and facet tokens."""


def index_texts(document: Mapping[str, Any]) -> dict[str, str]:
    """The four indexed texts of a projected entry document."""
    other = [str(document.get("type") or "")]
    for field in ("formats", "countries", "licences"):
        other.extend(str(v) for v in document.get(field) or [])
    return {
        "name": str(document.get("name") or ""),
        "description": str(document.get("description") or ""),
        "keywords": " ".join(str(k) for k in document.get("keywords") or []),
        "other": " ".join(other),
    }


@dataclass(frozen=True)
class IndexRow:
    """What the index needs of one active entry."""

    number: int
    document: Mapping[str, Any]
    facets: Sequence[tuple[str, str]]
    valid_until: datetime | None


class FullTextIndex(Protocol):
    """Where the catalogue's words are indexed and searched."""

    def ensure_schema(self, connection: Connection) -> None:
        """Create the index's tables if they are missing."""

    def put(self, session: Session, rows: Sequence[IndexRow]) -> None:
        """Index active entries (not indexed yet: remove re-indexed ones first)."""

    def remove(self, session: Session, numbers: Sequence[int]) -> None:
        """Forget entries."""

    def clear(self, session: Session) -> None:
        """Forget every entry (before a rebuild)."""

    def search(self, session: Session, query: SearchQuery, now: datetime) -> SearchPage:
        """Ranked, filtered, faceted, highlighted results among active, unexpired entries."""


class _MatchSetIndex:
    """Search around one match set; backends say how to find it and how to read its tokens."""

    def _match(self, session: Session, query: SearchQuery, now: datetime) -> list[MatchRow]:
        raise NotImplementedError

    def _facet(self, token: str) -> tuple[str, str] | None:
        raise NotImplementedError

    def _count(self, rows: list[MatchRow]) -> Counter[str]:
        """How many rows carry each facet token."""
        raise NotImplementedError

    def _entries(self, session: Session, numbers: Sequence[int]) -> dict[int, EntrySummary]:
        return page_entries(session, numbers)

    def search(self, session: Session, query: SearchQuery, now: datetime) -> SearchPage:
        rows = self._match(session, query, now)
        counts = self._count(rows)
        facet_rows = [
            (*named, count)
            for token, count in counts.items()
            if (named := self._facet(token)) is not None
        ]
        wanted = query.offset + query.size
        if query.terms:
            ranked = heapq.nsmallest(wanted, rows, key=itemgetter(1))
        else:  # no words: newest first
            ranked = heapq.nlargest(wanted, rows, key=itemgetter(0))
        page = ranked[query.offset :]
        entries = self._entries(session, [row[0] for row in page])
        hits = [
            Hit(number, rank, _highlights(entries[number], query.terms), entries[number])
            for number, rank, _ in page
            if number in entries
        ]
        return SearchPage(hits, len(rows), top_facets(facet_rows, query.facet_limit))


def _highlights(entry: EntrySummary, terms: Sequence[str]) -> dict[str, str]:
    if not terms:
        return {}
    texts = index_texts(entry.document)
    marked = {
        "name": highlight(texts["name"], terms),
        "description": highlight(texts["description"], terms, window=24),
        "keywords": highlight(texts["keywords"], terms),
    }
    return {field: value for field, value in marked.items() if value}


def page_entries(session: Session, numbers: Sequence[int]) -> dict[int, EntrySummary]:
    """The entries of a result page with their providers' names (from their own entries)."""
    if not numbers:
        return {}
    entry = aliased(CatalogueEntry)
    participant = aliased(CatalogueEntry)
    rows = session.execute(
        select(
            entry.number,
            entry.id,
            entry.subject,
            entry.kind,
            entry.owner,
            entry.label_level,
            entry.document,
            participant.document,
        )
        .outerjoin(
            participant,
            (participant.owner == entry.owner)
            & participant.kind.in_(sorted(PARTICIPANT_TYPES))
            & (participant.state == "active"),
        )
        .where(entry.number.in_(list(numbers)))
    )
    return {row[0]: _summary(row, _name(row[7])) for row in rows}


def _name(document: Any) -> str | None:
    if isinstance(document, str):
        document = json.loads(document)
    name = document.get("name") if isinstance(document, dict) else None
    return str(name) if name else None


def _summary(row: Sequence[Any], provider_name: str | None) -> EntrySummary:
    document = json.loads(row[6]) if isinstance(row[6], str) else row[6]
    return EntrySummary(
        int(row[0]), row[1], row[2], row[3], row[4], row[5], document, provider_name
    )


# --- SQLite FTS5 -------------------------------------------------------------------------


def facet_token(facet: str, value: str) -> str:
    """A (facet, value) pair as one FTS5 token: reversible, alphanumeric, never a word."""
    return "zf" + f"{facet}={value}".encode().hex()


def facet_of_token(token: str) -> tuple[str, str] | None:
    try:
        facet, _, value = bytes.fromhex(token[2:]).decode().partition("=")
    except ValueError:
        return None
    return facet, value


#: In every row's facets column: "all active entries" as a MATCH expression.
ALL_TOKEN = "zfall"  # noqa: S105 (a search token, not a secret)
_TEXT_COLUMNS = "{name description keywords other}"


class SqliteFullTextIndex(_MatchSetIndex):
    """SQLite FTS5, rowid = the entry's number."""

    def ensure_schema(self, connection: Connection) -> None:
        connection.execute(
            text(
                "CREATE VIRTUAL TABLE IF NOT EXISTS catalogue_fts USING fts5("
                "name, description, keywords, other, facets, until UNINDEXED, "
                "tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3')"
            )
        )

    def put(self, session: Session, rows: Sequence[IndexRow]) -> None:
        if not rows:
            return
        session.execute(
            text(
                "INSERT INTO catalogue_fts (rowid, name, description, keywords, other, facets, "
                "until) VALUES (:number, :name, :description, :keywords, :other, :facets, :until)"
            ),
            [
                {
                    "number": row.number,
                    **index_texts(row.document),
                    "facets": " ".join([ALL_TOKEN, *(facet_token(f, v) for f, v in row.facets)]),
                    "until": int(row.valid_until.timestamp()) if row.valid_until else 0,
                }
                for row in rows
            ],
        )

    def remove(self, session: Session, numbers: Sequence[int]) -> None:
        if numbers:
            session.execute(
                text("DELETE FROM catalogue_fts WHERE rowid IN :numbers").bindparams(
                    bindparam("numbers", expanding=True)
                ),
                {"numbers": list(numbers)},
            )

    def clear(self, session: Session) -> None:
        session.execute(text("DELETE FROM catalogue_fts"))

    @staticmethod
    def match_expression(terms: Sequence[str]) -> str:
        # Terms are \w+ words (search.match_terms), so quoting them is all the escaping needed.
        return " ".join(f'"{term}"*' for term in terms)

    @staticmethod
    def query_expression(query: SearchQuery) -> str:
        """The MATCH expression of words (text columns only) and facet filters."""
        parts = [f'{_TEXT_COLUMNS} : "{term}"*' for term in query.terms]
        for facet, values in sorted(query.filters.items()):
            tokens = " OR ".join(facet_token(facet, value) for value in values)
            parts.append(f"facets : ({tokens})")
        return " AND ".join(parts) or f"facets : {ALL_TOKEN}"

    def _match(self, session: Session, query: SearchQuery, now: datetime) -> list[MatchRow]:
        # Straight to the driver: at a millisecond per search, building a SQLAlchemy
        # statement would cost as much as SQLite's own work.
        raw = session.connection().connection.driver_connection
        assert raw is not None
        rows = raw.execute(
            "SELECT rowid, bm25(catalogue_fts, 10.0, 2.0, 5.0, 1.0, 0.0), facets "
            "FROM catalogue_fts WHERE catalogue_fts MATCH ? AND (until = 0 OR until > ?)",
            (self.query_expression(query), int(now.timestamp())),
        ).fetchall()
        return list(rows)

    def _count(self, rows: list[MatchRow]) -> Counter[str]:
        # One join and one split in C instead of a split per row: the match set can be large.
        return Counter(" ".join([row[2] for row in rows]).split())

    def _facet(self, token: str) -> tuple[str, str] | None:
        return None if token == ALL_TOKEN else facet_of_token(token)

    def _entries(self, session: Session, numbers: Sequence[int]) -> dict[int, EntrySummary]:
        raw = session.connection().connection.driver_connection
        assert raw is not None
        rows = raw.execute(
            "SELECT e.number, e.id, e.subject, e.kind, e.owner, e.label_level, e.document, "
            "json_extract(p.document, '$.name') FROM catalogue_entries e "
            "LEFT JOIN catalogue_entries p ON p.owner = e.owner AND p.state = 'active' "
            "AND p.kind IN ('LegalPerson', 'Participant') "
            "WHERE e.number IN (SELECT value FROM json_each(?))",
            (json.dumps(list(numbers)),),
        ).fetchall()
        return {int(row[0]): _summary(row, str(row[7]) if row[7] else None) for row in rows}


# --- PostgreSQL ----------------------------------------------------------------------------

_PG_VECTOR = (
    "setweight(to_tsvector('simple', coalesce(name, '')), 'A') || "
    "setweight(to_tsvector('simple', coalesce(keywords, '')), 'B') || "
    "setweight(to_tsvector('simple', coalesce(description, '')), 'C') || "
    "setweight(to_tsvector('simple', coalesce(other, '')), 'D')"
)


class PostgresFullTextIndex(_MatchSetIndex):
    """PostgreSQL: weighted tsvector (generated column) and facet array, both GIN-indexed."""

    def ensure_schema(self, connection: Connection) -> None:
        connection.execute(
            text(
                "CREATE TABLE IF NOT EXISTS catalogue_fts ("
                "number integer PRIMARY KEY "
                "REFERENCES catalogue_entries (number) ON DELETE CASCADE, "
                "name text NOT NULL, description text NOT NULL, keywords text NOT NULL, "
                "other text NOT NULL, facets text[] NOT NULL, until timestamptz, "
                f"tsv tsvector GENERATED ALWAYS AS ({_PG_VECTOR}) STORED)"
            )
        )
        connection.execute(
            text("CREATE INDEX IF NOT EXISTS catalogue_fts_tsv ON catalogue_fts USING gin (tsv)")
        )
        connection.execute(
            text(
                "CREATE INDEX IF NOT EXISTS catalogue_fts_facets ON catalogue_fts "
                "USING gin (facets)"
            )
        )

    def put(self, session: Session, rows: Sequence[IndexRow]) -> None:
        if not rows:
            return
        session.execute(
            text(
                "INSERT INTO catalogue_fts (number, name, description, keywords, other, facets, "
                "until) VALUES (:number, :name, :description, :keywords, :other, :facets, :until)"
            ),
            [
                {
                    "number": row.number,
                    **index_texts(row.document),
                    "facets": [f"{f}={v}" for f, v in row.facets],
                    "until": row.valid_until,
                }
                for row in rows
            ],
        )

    def remove(self, session: Session, numbers: Sequence[int]) -> None:
        if numbers:
            session.execute(
                text("DELETE FROM catalogue_fts WHERE number IN :numbers").bindparams(
                    bindparam("numbers", expanding=True)
                ),
                {"numbers": list(numbers)},
            )

    def clear(self, session: Session) -> None:
        session.execute(text("DELETE FROM catalogue_fts"))

    @staticmethod
    def tsquery(terms: Sequence[str]) -> str:
        # \w+ words only (search.match_terms): nothing of the tsquery syntax gets through.
        return " & ".join(f"{term}:*" for term in terms)

    def _match(self, session: Session, query: SearchQuery, now: datetime) -> list[MatchRow]:
        # One "facets && array" condition per filtered facet (any of its values), as bound
        # arrays; the words as one bound tsquery. Only parameter names are put into the SQL.
        params: dict[str, Any] = {"now": now}
        where = ["(until IS NULL OR until > :now)"]
        for index, (facet, values) in enumerate(sorted(query.filters.items())):
            params[f"f{index}"] = [f"{facet}={value}" for value in values]
            where.append(f"facets && :f{index}")
        if query.terms:
            params["tsq"] = self.tsquery(query.terms)
            where.append("tsv @@ to_tsquery('simple', :tsq)")
            rank = "-ts_rank_cd(tsv, to_tsquery('simple', :tsq))"
        else:
            rank = "0.0"
        sql = f"SELECT number, {rank}, facets FROM catalogue_fts WHERE {' AND '.join(where)}"  # noqa: S608
        return [(int(row[0]), float(row[1]), row[2]) for row in session.execute(text(sql), params)]

    def _count(self, rows: list[MatchRow]) -> Counter[str]:
        return Counter(chain.from_iterable(row[2] for row in rows))

    def _facet(self, token: str) -> tuple[str, str] | None:
        facet, _, value = token.partition("=")
        return facet, value


def full_text_index_for(engine: Engine) -> FullTextIndex:
    """The backend that fits the database: PostgreSQL full text, else SQLite FTS5."""
    index: FullTextIndex = (
        PostgresFullTextIndex() if engine.dialect.name == "postgresql" else SqliteFullTextIndex()
    )
    with engine.begin() as connection:
        index.ensure_schema(connection)
    return index
