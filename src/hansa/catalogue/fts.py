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

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, bindparam, text
from sqlalchemy.orm import Session

from hansa.catalogue.search import MARK_END, MARK_START, Hit, SearchPage, SearchQuery, top_facets
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


class FullTextIndex(Protocol):
    """Where the catalogue's words are indexed and searched."""

    def ensure_schema(self, connection: Connection) -> None:
        """Create the index's tables if they are missing."""

    def put(self, session: Session, number: int, document: Mapping[str, Any]) -> None:
        """Index (or re-index) entry ``number``."""

    def remove(self, session: Session, number: int) -> None:
        """Forget entry ``number``."""

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
    """What both backends share: filtering, paging and facet counts around a match set."""

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
        hits = [Hit(int(row[0]), float(row[1]), marks.get(int(row[0]), {})) for row in rows]
        facets = top_facets(
            [(str(r[0]), str(r[1]), int(r[2])) for r in facet_rows], query.facet_limit
        )
        return SearchPage(hits=hits, total=total, facets=facets)


class SqliteFullTextIndex(_SqlIndex):
    """SQLite FTS5, rowid = the entry's number."""

    def ensure_schema(self, connection: Connection) -> None:
        connection.execute(
            text(
                "CREATE VIRTUAL TABLE IF NOT EXISTS catalogue_fts USING fts5("
                "name, description, keywords, other, "
                "tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3')"
            )
        )

    def put(self, session: Session, number: int, document: Mapping[str, Any]) -> None:
        self.remove(session, number)
        session.execute(
            text(
                "INSERT INTO catalogue_fts (rowid, name, description, keywords, other) "
                "VALUES (:number, :name, :description, :keywords, :other)"
            ),
            {"number": number, **index_texts(document)},
        )

    def remove(self, session: Session, number: int) -> None:
        session.execute(text("DELETE FROM catalogue_fts WHERE rowid = :n"), {"n": number})

    def clear(self, session: Session) -> None:
        session.execute(text("DELETE FROM catalogue_fts"))

    @staticmethod
    def match_expression(terms: Sequence[str]) -> str:
        # Terms are \w+ words (search.match_terms), so quoting them is all the escaping needed.
        return " ".join(f'"{term}"*' for term in terms)

    def _match_sql(self, query: SearchQuery) -> tuple[str, dict[str, Any]]:
        return (
            "SELECT rowid AS number, bm25(catalogue_fts, 10.0, 2.0, 5.0, 1.0) AS rank "
            "FROM catalogue_fts WHERE catalogue_fts MATCH :match",
            {"match": self.match_expression(query.terms)},
        )

    def _highlights(
        self, session: Session, query: SearchQuery, numbers: Sequence[int]
    ) -> dict[int, dict[str, str]]:
        rows = session.execute(
            text(
                "SELECT rowid, highlight(catalogue_fts, 0, :s, :e), "
                "snippet(catalogue_fts, 1, :s, :e, '…', 24), "
                "highlight(catalogue_fts, 2, :s, :e) "
                "FROM catalogue_fts WHERE catalogue_fts MATCH :match AND rowid IN :numbers"
            ).bindparams(bindparam("numbers", expanding=True)),
            {
                "s": MARK_START,
                "e": MARK_END,
                "match": self.match_expression(query.terms),
                "numbers": list(numbers),
            },
        ).all()
        return {
            int(r[0]): _marked(("name", r[1]), ("description", r[2]), ("keywords", r[3]))
            for r in rows
        }


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

    def put(self, session: Session, number: int, document: Mapping[str, Any]) -> None:
        session.execute(
            text(
                "INSERT INTO catalogue_fts (number, name, description, keywords, other) "
                "VALUES (:number, :name, :description, :keywords, :other) "
                "ON CONFLICT (number) DO UPDATE SET name = excluded.name, "
                "description = excluded.description, keywords = excluded.keywords, "
                "other = excluded.other"
            ),
            {"number": number, **index_texts(document)},
        )

    def remove(self, session: Session, number: int) -> None:
        session.execute(text("DELETE FROM catalogue_fts WHERE number = :n"), {"n": number})

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
