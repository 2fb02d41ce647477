"""Full-text index of the catalogue behind one small interface: SQLite FTS5 or PostgreSQL.

Both live in the node's own database, next to the entries, and are written in the same
transaction as the entry, so search never sees an entry its index does not (or the other
way round). They are projections: :meth:`FullTextIndex.clear` and re-adding every entry
rebuilds them. Their tables are created here (``IF NOT EXISTS``), not by a migration:
an FTS5 virtual table and its shadow tables cannot be declared as SQLAlchemy models.

- SQLite: an FTS5 table (``unicode61`` with diacritics folded, prefix indexes of 2 and 3
  characters), ranked by ``bm25`` with the name weighted highest, highlights by
  ``highlight()`` / ``snippet()``.
- PostgreSQL: a table with a generated, weighted ``tsvector`` (``simple`` configuration: a
  multilingual catalogue gets no one language's stemming) and a GIN index, prefix queries
  (``word:*``), ranked by ``ts_rank_cd``, highlights by ``ts_headline``.
"""

from __future__ import annotations

import heapq
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, bindparam, select, text
from sqlalchemy.orm import Session, aliased

from hansa.catalogue.models import CatalogueEntry
from hansa.catalogue.search import (
    MARK_END,
    MARK_START,
    EntrySummary,
    Hit,
    SearchPage,
    SearchQuery,
    highlight,
    top_facets,
)
from hansa.db import UTCDateTime

COLUMNS = ("name", "description", "keywords", "other")


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


def _filters_sql(filters: Mapping[str, tuple[str, ...]]) -> tuple[str, dict[str, Any]]:
    clauses: list[str] = []
    params: dict[str, Any] = {}
    for i, (facet, values) in enumerate(sorted(filters.items())):
        names = []
        for j, value in enumerate(values):
            params[f"v{i}_{j}"] = value
            names.append(f":v{i}_{j}")
        params[f"f{i}"] = facet
        inner = f"SELECT entry_number FROM catalogue_facets WHERE facet = :f{i} AND value IN "  # noqa: S608
        clauses.append(f" AND e.number IN ({inner}({', '.join(names)}))")
    return "".join(clauses), params


_ACTIVE = "e.state = 'active' AND (e.valid_until IS NULL OR e.valid_until > :now)"


class _SqlIndex:
    """Search by SQL around a match set: join entries, filter by facet rows, count facets."""

    def _match_sql(self, query: SearchQuery) -> tuple[str, dict[str, Any]]:
        raise NotImplementedError

    def _highlights(
        self, session: Session, query: SearchQuery, numbers: Sequence[int]
    ) -> dict[int, dict[str, str]]:
        raise NotImplementedError

    # The SQL below is put together from this module's constant fragments and generated
    # parameter names only; every value (words, facet values, times) is a bound parameter.
    def search(self, session: Session, query: SearchQuery, now: datetime) -> SearchPage:
        if query.terms:
            match, params = self._match_sql(query)
        else:
            match, params = "SELECT number, 0.0 AS rank FROM catalogue_entries", {}
        where, filter_params = _filters_sql(query.filters)
        params.update(filter_params)
        join = f"FROM m JOIN catalogue_entries e ON e.number = m.number WHERE {_ACTIVE}{where}"
        filtered = f"WITH m AS ({match}), f AS (SELECT e.number AS number, m.rank AS rank {join})"
        now_param = bindparam("now", now, type_=UTCDateTime)
        rows = session.execute(
            text(
                f"{filtered} SELECT number, rank, count(*) OVER () FROM f "  # noqa: S608
                "ORDER BY rank, number DESC LIMIT :size OFFSET :offset"
            ).bindparams(now_param),
            {**params, "size": query.size, "offset": query.offset},
        ).all()
        if rows:
            total = int(rows[0][2])
        else:
            total = int(
                session.execute(
                    text(f"{filtered} SELECT count(*) FROM f").bindparams(now_param),  # noqa: S608
                    params,
                ).scalar_one()
            )
        facet_rows = session.execute(
            text(
                f"{filtered} SELECT c.facet, c.value, count(*) FROM f "  # noqa: S608
                "JOIN catalogue_facets c ON c.entry_number = f.number GROUP BY c.facet, c.value"
            ).bindparams(now_param),
            params,
        ).all()
        numbers = [int(row[0]) for row in rows]
        marks = self._highlights(session, query, numbers) if query.terms and numbers else {}
        entries = page_entries(session, numbers)
        hits = [
            Hit(int(row[0]), float(row[1]), marks.get(int(row[0]), {}), entries.get(int(row[0])))
            for row in rows
        ]
        facets = top_facets(
            [(str(r[0]), str(r[1]), int(r[2])) for r in facet_rows], query.facet_limit
        )
        return SearchPage(hits=hits, total=total, facets=facets)


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
            participant, (participant.subject == entry.owner) & (participant.state == "active")
        )
        .where(entry.number.in_(list(numbers)))
    )
    return {row[0]: _summary(row, _name(row[7])) for row in rows}


def _summary(row: Sequence[Any], provider_name: str | None) -> EntrySummary:
    document = json.loads(row[6]) if isinstance(row[6], str) else row[6]
    return EntrySummary(
        int(row[0]), row[1], row[2], row[3], row[4], row[5], document, provider_name
    )


def _name(document: Any) -> str | None:
    if isinstance(document, str):
        document = json.loads(document)
    name = document.get("name") if isinstance(document, dict) else None
    return str(name) if name else None


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


class SqliteFullTextIndex:
    """SQLite FTS5, rowid = the entry's number; holds active entries only.

    Facet values are tokens of a ``facets`` column (weight 0 in the ranking), so a facet
    filter is part of the MATCH (posting lists intersected inside FTS5), and one pass over
    the match set gives rank, validity and facet counts: no join, no second match.
    """

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
    def _query_expression(query: SearchQuery) -> str:
        parts = [f'{_TEXT_COLUMNS} : "{term}"*' for term in query.terms]
        for facet, values in sorted(query.filters.items()):
            tokens = " OR ".join(facet_token(facet, value) for value in values)
            parts.append(f"facets : ({tokens})")
        return " AND ".join(parts) or f"facets : {ALL_TOKEN}"

    def search(self, session: Session, query: SearchQuery, now: datetime) -> SearchPage:
        # Straight to the driver: at a few milliseconds per search, building SQLAlchemy
        # statements would cost as much as SQLite's work. Two statements: the whole match
        # set (rank, facets), then the page with its entries, highlights and provider names.
        raw = session.connection().connection.driver_connection
        assert raw is not None
        expression = self._query_expression(query)
        rows = raw.execute(
            "SELECT rowid, bm25(catalogue_fts, 10.0, 2.0, 5.0, 1.0, 0.0), facets "
            "FROM catalogue_fts WHERE catalogue_fts MATCH ? AND (until = 0 OR until > ?)",
            (expression, int(now.timestamp())),
        ).fetchall()
        counts = Counter(token for row in rows for token in row[2].split())
        facet_rows = [
            (*named, count)
            for token, count in counts.items()
            if token != ALL_TOKEN and (named := facet_of_token(token)) is not None
        ]
        if query.terms:
            ranked = heapq.nsmallest(query.offset + query.size, rows, key=lambda r: (r[1], -r[0]))
        else:
            ranked = heapq.nlargest(query.offset + query.size, rows, key=lambda r: r[0])
        page = ranked[query.offset :]
        details = self._page(raw, query.terms, [int(row[0]) for row in page]) if page else {}
        hits = []
        for number, rank, _ in page:
            entry, marks = details.get(int(number), (None, {}))
            hits.append(Hit(int(number), float(rank), marks if query.terms else {}, entry))
        return SearchPage(
            hits=hits, total=len(rows), facets=top_facets(facet_rows, query.facet_limit)
        )

    @staticmethod
    def _page(
        raw: Any, terms: Sequence[str], numbers: Sequence[int]
    ) -> dict[int, tuple[EntrySummary, dict[str, str]]]:
        # Highlights are made here, not by FTS5's highlight(): with a MATCH, SQLite runs the
        # whole query again for the page's rows (about as long as the search itself), and
        # the words only need to be found again in twenty names and descriptions.
        rows = raw.execute(
            "SELECT e.number, e.id, e.subject, e.kind, e.owner, e.label_level, e.document, "
            "json_extract(p.document, '$.name') FROM catalogue_entries e "
            "LEFT JOIN catalogue_entries p ON p.subject = e.owner AND p.state = 'active' "
            "WHERE e.number IN (SELECT value FROM json_each(?))",
            (json.dumps(list(numbers)),),
        ).fetchall()
        page = {}
        for row in rows:
            entry = _summary(row, str(row[7]) if row[7] else None)
            texts = index_texts(entry.document)
            page[entry.number] = (
                entry,
                _marked(
                    ("name", highlight(texts["name"], terms)),
                    ("description", highlight(texts["description"], terms, window=24)),
                    ("keywords", highlight(texts["keywords"], terms)),
                ),
            )
        return page


def _marked(*fields: tuple[str, Any]) -> dict[str, str]:
    """Only the fields where something matched (the others add nothing to a hit)."""
    return {name: str(value) for name, value in fields if value and MARK_START in str(value)}


_PG_VECTOR = (
    "setweight(to_tsvector('simple', coalesce(name, '')), 'A') || "
    "setweight(to_tsvector('simple', coalesce(keywords, '')), 'B') || "
    "setweight(to_tsvector('simple', coalesce(description, '')), 'C') || "
    "setweight(to_tsvector('simple', coalesce(other, '')), 'D')"
)


class PostgresFullTextIndex(_SqlIndex):
    """PostgreSQL: weighted tsvector (generated column) with a GIN index."""

    def ensure_schema(self, connection: Connection) -> None:
        connection.execute(
            text(
                "CREATE TABLE IF NOT EXISTS catalogue_fts ("
                "number integer PRIMARY KEY "
                "REFERENCES catalogue_entries (number) ON DELETE CASCADE, "
                "name text NOT NULL, description text NOT NULL, keywords text NOT NULL, "
                f"other text NOT NULL, tsv tsvector GENERATED ALWAYS AS ({_PG_VECTOR}) STORED)"
            )
        )
        connection.execute(
            text("CREATE INDEX IF NOT EXISTS catalogue_fts_tsv ON catalogue_fts USING gin (tsv)")
        )

    def put(self, session: Session, rows: Sequence[IndexRow]) -> None:
        # Facets and validity are read from catalogue_facets and catalogue_entries.
        if not rows:
            return
        session.execute(
            text(
                "INSERT INTO catalogue_fts (number, name, description, keywords, other) "
                "VALUES (:number, :name, :description, :keywords, :other)"
            ),
            [{"number": row.number, **index_texts(row.document)} for row in rows],
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

    def _match_sql(self, query: SearchQuery) -> tuple[str, dict[str, Any]]:
        return (
            "SELECT t.number AS number, -ts_rank_cd(t.tsv, q.q) AS rank "
            "FROM catalogue_fts t, to_tsquery('simple', :tsq) AS q(q) WHERE t.tsv @@ q.q",
            {"tsq": self.tsquery(query.terms)},
        )

    def _highlights(
        self, session: Session, query: SearchQuery, numbers: Sequence[int]
    ) -> dict[int, dict[str, str]]:
        options = f"StartSel={MARK_START}, StopSel={MARK_END}"
        rows = session.execute(
            text(
                "SELECT t.number, "
                "ts_headline('simple', t.name, q.q, :all), "
                "ts_headline('simple', t.description, q.q, :snip), "
                "ts_headline('simple', t.keywords, q.q, :all) "
                "FROM catalogue_fts t, to_tsquery('simple', :tsq) AS q(q) "
                "WHERE t.number IN :numbers"
            ).bindparams(bindparam("numbers", expanding=True)),
            {
                "tsq": self.tsquery(query.terms),
                "all": f"{options}, HighlightAll=true",
                "snip": f"{options}, MaxWords=24, MinWords=8",
                "numbers": list(numbers),
            },
        ).all()
        return {
            int(r[0]): _marked(("name", r[1]), ("description", r[2]), ("keywords", r[3]))
            for r in rows
        }


def full_text_index_for(engine: Engine) -> FullTextIndex:
    """The backend that fits the database: PostgreSQL full text, else SQLite FTS5."""
    index: FullTextIndex = (
        PostgresFullTextIndex() if engine.dialect.name == "postgresql" else SqliteFullTextIndex()
    )
    with engine.begin() as connection:
        index.ensure_schema(connection)
    return index
