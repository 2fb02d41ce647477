"""The catalogue's storage: entries with their originals, facet rows, full text, change feed.

Every write goes through :meth:`CatalogueStore.writing`, one transaction that first takes
the catalogue's write lock (PostgreSQL: an advisory transaction lock; SQLite: its database
write lock, taken by ``BEGIN IMMEDIATE``-like first write). So change numbers are handed
out and committed in the same order, and ``changes_since(seq)`` never skips a change that
commits later with a smaller number: a peer that polls the feed misses nothing.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from hansa.catalogue.fts import FullTextIndex, IndexRow
from hansa.catalogue.ingest import Publication
from hansa.catalogue.models import CatalogueChange, CatalogueEntry
from hansa.catalogue.offering import PARTICIPANT_TYPES, facet_values
from hansa.errors import Conflict
from hansa.identity.validity import parse_datetime

ChangeKind = Literal["insert", "supersede", "delete", "revoke", "expire"]
#: Key of the PostgreSQL advisory lock that orders catalogue writes (an arbitrary constant).
WRITE_LOCK_KEY = 0x4A15_CA7A


def entry_id_for(subject: str) -> str:
    """The public id of a subject's entry: stable across versions, opaque."""
    return hashlib.sha256(subject.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Change:
    """One item of the change feed."""

    seq: int
    entry_id: str
    subject: str
    kind: str
    credential_id: str | None
    at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "entry": self.entry_id,
            "subject": self.subject,
            "kind": self.kind,
            "credentialId": self.credential_id,
            "at": self.at.isoformat(),
        }


def _issued_at(credential: dict[str, Any], fallback: datetime) -> datetime:
    if "validFrom" in credential:
        return parse_datetime(credential["validFrom"], "/validFrom")
    if isinstance(credential.get("iat"), int):
        return datetime.fromtimestamp(credential["iat"], fallback.tzinfo)
    return fallback


def _valid_until(*credentials: dict[str, Any]) -> datetime | None:
    ends = [
        parse_datetime(c["validUntil"], "/validUntil") for c in credentials if "validUntil" in c
    ]
    return min(ends) if ends else None


def _fill(entry: CatalogueEntry, publication: Publication, now: datetime) -> None:
    """Write a publication's originals and projection into ``entry`` (new or replaced)."""
    credential = publication.check.credential
    label = publication.label
    entry.owner = publication.owner
    entry.kind = publication.kind
    entry.credential_id = str(credential.get("id"))
    entry.credential_token = publication.token
    entry.label_id = str(label.check.credential.get("id") or "")
    entry.label_token = label.token
    entry.label_issuer = label.check.issuer
    entry.label_level = label.level
    entry.evidence_tokens = list(publication.evidence)
    entry.issued_at = _issued_at(credential, now)
    entry.valid_until = _valid_until(credential, label.check.credential)
    entry.state = "active"
    entry.state_reason = None
    entry.document = publication.document
    entry.updated_at = now
    entry.seq = 0


class CatalogueStore:
    """Entries, their projections in the database, and the change feed."""

    def __init__(self, sessions: sessionmaker[Session], fts: FullTextIndex) -> None:
        self.sessions = sessions
        self.fts = fts
        # SQLite's WAL refuses (not waits) a reader that turns writer on a stale snapshot:
        # within the process, writers queue here first.
        self._lock = threading.Lock()

    @contextmanager
    def writing(self) -> Iterator[Session]:
        """One write transaction, holding the catalogue's write lock."""
        with self._lock, self.sessions() as session, session.begin():
            if session.get_bind().dialect.name == "postgresql":
                session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": WRITE_LOCK_KEY})
            yield session

    # --- writes (inside writing()) ---------------------------------------------------------

    def _change(
        self, session: Session, entry: CatalogueEntry, kind: ChangeKind, now: datetime
    ) -> int:
        change = CatalogueChange(
            entry_id=entry.id,
            subject=entry.subject,
            kind=kind,
            credential_id=entry.credential_id,
            at=now,
        )
        session.add(change)
        session.flush()
        return change.seq

    def project(
        self, session: Session, entries: Sequence[CatalogueEntry], *, new: bool = False
    ) -> None:
        """(Re)write the entries' full-text rows (words, facet values) from their documents.

        Only active entries are projected: revoked or expired ones leave the indexes.
        ``new``: the entries were never projected (nothing to remove first).
        """
        if not new:
            self.unproject(session, [entry.number for entry in entries])
        self.fts.put(
            session,
            [
                IndexRow(
                    entry.number,
                    entry.document,
                    facet_values(entry.document, entry.label_level, entry.owner),
                    entry.valid_until,
                )
                for entry in entries
                if entry.state == "active"
            ],
        )

    def unproject(self, session: Session, numbers: Sequence[int]) -> None:
        """Take entries out of the full-text index."""
        self.fts.remove(session, numbers)

    def publish(
        self, session: Session, publications: Sequence[Publication], now: datetime
    ) -> list[tuple[CatalogueEntry, ChangeKind | None]]:
        """Insert or supersede each subject's entry (``None``: the same credential again).

        One submission is written in a few statements whatever its size: one read of the
        subjects, batched inserts of entries and changes, one projection pass.
        """
        subjects = [p.subject for p in publications]
        if len(set(subjects)) != len(subjects):
            raise Conflict(
                "the submission holds two credentials for one subject; send the newest only",
                code="catalogue.duplicate_subject",
            )
        existing = {
            entry.subject: entry
            for entry in session.scalars(
                select(CatalogueEntry).where(CatalogueEntry.subject.in_(subjects))
            )
        }
        results: list[tuple[CatalogueEntry, ChangeKind | None]] = []
        for publication in publications:
            entry = existing.get(publication.subject)
            kind = self._check_replace(entry, publication, now)
            if entry is None:
                entry = CatalogueEntry(
                    id=entry_id_for(publication.subject),
                    subject=publication.subject,
                    created_at=now,
                )
            if kind is not None:
                _fill(entry, publication, now)
            results.append((entry, kind))
        changed = [(entry, kind) for entry, kind in results if kind is not None]
        # The changes first: their numbers go into the entries' rows as they are inserted.
        changes = [
            CatalogueChange(
                entry_id=entry.id,
                subject=entry.subject,
                kind=kind,
                credential_id=entry.credential_id,
                at=now,
            )
            for entry, kind in changed
        ]
        session.add_all(changes)
        session.flush()
        for (entry, _), change in zip(changed, changes, strict=True):
            entry.seq = change.seq
        session.add_all(entry for entry, _ in changed)
        session.flush()
        self.project(session, [entry for entry, kind in changed if kind == "insert"], new=True)
        self.project(session, [entry for entry, kind in changed if kind == "supersede"])
        return results

    @staticmethod
    def _check_replace(
        entry: CatalogueEntry | None, publication: Publication, now: datetime
    ) -> ChangeKind | None:
        if entry is None:
            return "insert"
        if entry.owner != publication.owner:
            raise Conflict(
                f"{publication.subject} is already catalogued for another participant; "
                "describe your offering under a subject id of your own",
                code="catalogue.subject_taken",
            )
        if (
            entry.credential_token == publication.token
            and entry.label_token == publication.label.token
        ):
            return None
        if _issued_at(publication.check.credential, now) < entry.issued_at:
            raise Conflict(
                f"the catalogue holds a newer credential for {publication.subject} "
                f"(valid from {entry.issued_at.isoformat()}); publish a newer one",
                code="catalogue.stale_credential",
                pointer="/validFrom",
            )
        return "supersede"

    def remove(self, session: Session, entry: CatalogueEntry, now: datetime) -> int:
        """Delete an entry (its originals and projections); the change feed keeps a record."""
        seq = self._change(session, entry, "delete", now)
        self.unproject(session, [entry.number])
        session.delete(entry)
        return seq

    def retire(
        self,
        session: Session,
        entry: CatalogueEntry,
        kind: Literal["revoke", "expire"],
        reason: str,
        now: datetime,
    ) -> int:
        """Take an entry out of search (revoked or expired); its originals stay for audit."""
        entry.state = "revoked" if kind == "revoke" else "expired"
        entry.state_reason = reason[:512]
        entry.updated_at = now
        entry.seq = self._change(session, entry, kind, now)
        self.project(session, [entry])
        return entry.seq

    # --- reads -----------------------------------------------------------------------------

    def get(self, entry_id: str) -> CatalogueEntry | None:
        with self.sessions() as session:
            return session.scalar(select(CatalogueEntry).where(CatalogueEntry.id == entry_id))

    def by_numbers(self, numbers: Sequence[int]) -> dict[int, CatalogueEntry]:
        if not numbers:
            return {}
        with self.sessions() as session:
            rows = session.scalars(
                select(CatalogueEntry).where(CatalogueEntry.number.in_(list(numbers)))
            )
            return {row.number: row for row in rows}

    def participant_names(self, subjects: Sequence[str]) -> dict[str, str]:
        """The names of active participants (by DID), from their own catalogue entries."""
        if not subjects:
            return {}
        with self.sessions() as session:
            rows = session.execute(
                select(CatalogueEntry.owner, CatalogueEntry.document).where(
                    CatalogueEntry.owner.in_(list(dict.fromkeys(subjects))),
                    CatalogueEntry.kind.in_(sorted(PARTICIPANT_TYPES)),
                    CatalogueEntry.state == "active",
                )
            )
            return {owner: str(doc["name"]) for owner, doc in rows if doc.get("name")}

    def changes_since(self, seq: int, limit: int = 100) -> list[Change]:
        """Changes after ``seq``, oldest first, at most ``limit``."""
        with self.sessions() as session:
            rows = session.scalars(
                select(CatalogueChange)
                .where(CatalogueChange.seq > seq)
                .order_by(CatalogueChange.seq)
                .limit(max(1, min(limit, 1000)))
            )
            return [
                Change(r.seq, r.entry_id, r.subject, r.kind, r.credential_id, r.at) for r in rows
            ]

    def last_seq(self) -> int:
        with self.sessions() as session:
            value = session.scalar(select(CatalogueChange.seq).order_by(CatalogueChange.seq.desc()))
            return int(value or 0)

    def numbers(self, *, states: Sequence[str] | None = None) -> list[int]:
        """Entry numbers, in order (optionally only in ``states``)."""
        with self.sessions() as session:
            query = select(CatalogueEntry.number).order_by(CatalogueEntry.number)
            if states is not None:
                query = query.where(CatalogueEntry.state.in_(list(states)))
            return list(session.scalars(query))
