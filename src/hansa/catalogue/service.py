"""The catalogue service: verified ingest, lifecycle, search, detail, deletion, reindex.

Everything stored has passed the identity verifier (signature, key relationship, validity,
status, and an X.509 chain to a trusted root when ``require_x509``) and
:func:`hansa.catalogue.ingest.plan_publications` (label from a trusted compliance issuer,
digest coverage, ownership). Nothing of a refused submission is stored.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session, sessionmaker

from hansa.catalogue.fts import full_text_index_for
from hansa.catalogue.ingest import Publication, plan_publications
from hansa.catalogue.models import CatalogueEntry
from hansa.catalogue.offering import GX, HANSA, SCHEMA, project
from hansa.catalogue.peer_models import CatalogueOrigin
from hansa.catalogue.rdf_index import RdfProjection
from hansa.catalogue.search import MAX_OFFSET, CursorCodec, SearchQuery
from hansa.catalogue.sparql import SparqlResult, SparqlRunner
from hansa.catalogue.store import CatalogueStore, Change
from hansa.catalogue.views import entry_detail, search_item
from hansa.errors import BadRequest, ConfigurationError, HansaError, NotFound
from hansa.identity.jose import decode_unverified
from hansa.identity.verifier import CredentialCheck, CredentialVerifier

if TYPE_CHECKING:
    from hansa.catalogue.federation import CatalogueFederation

logger = logging.getLogger(__name__)

#: How often a node should call :meth:`CatalogueService.recheck_statuses` (seconds).
RECHECK_INTERVAL_SECONDS = 900
#: Prefixes every SPARQL query may use without declaring them.
PREFIX_MAP = {
    "gx": GX,
    "schema": SCHEMA,
    "hansa": HANSA,
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
}
#: Verification failures on recheck that say "this credential is gone" (others: try again).
_REVOKED_CODES = ("vc.revoked", "vc.suspended", "trust.", "vc.signature_invalid", "did.not_found")


def _now() -> datetime:
    return datetime.now(UTC)


class VerifiedCredential(Protocol):
    """A credential someone has verified, with its original vc+jwt."""

    @property
    def credential(self) -> dict[str, Any]: ...

    @property
    def issuer(self) -> str: ...

    @property
    def token(self) -> str | None: ...


@dataclass(frozen=True)
class Published:
    """What an ingest did to one entry: ``insert``, ``supersede`` or ``unchanged``."""

    id: str
    subject: str
    kind: str
    change: str
    seq: int

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "subject": self.subject,
            "type": self.kind,
            "change": self.change,
            "seq": self.seq,
        }


@dataclass
class RecheckReport:
    checked: int = 0
    revoked: int = 0
    expired: int = 0
    unavailable: int = 0


class CatalogueService:
    """The federated catalogue of one node (clearing house or participant)."""

    def __init__(
        self,
        store: CatalogueStore,
        verifier: CredentialVerifier,
        rdf: RdfProjection | None,
        *,
        node_did: str,
        is_compliance_issuer: Callable[[str], bool],
        cursor_secret: bytes,
        require_x509: bool = True,
    ) -> None:
        self.store = store
        self.verifier = verifier
        self.rdf = rdf
        self.node_did = node_did
        self.is_compliance_issuer = is_compliance_issuer
        self.cursors = CursorCodec(cursor_secret)
        self.require_x509 = require_x509
        self._sparql: SparqlRunner | None = None
        self.federation: CatalogueFederation | None = None
        """The peers this catalogue follows (set by the node)."""

    # --- ingest ----------------------------------------------------------------------------

    def ingest_presentation(self, vp: str, *, now: datetime | None = None) -> list[Published]:
        """Publish what a participant presents (vp+jwt, ``aud`` = this node's DID)."""
        checked = self.verifier.verify_presentation(vp, domain=self.node_did, now=now)
        self._check_chains(checked.credentials, now)
        plan = plan_publications(
            checked.credentials,
            is_compliance_issuer=self.is_compliance_issuer,
            holder=checked.holder,
        )
        return self._publish(plan, now)

    def ingest_credentials(
        self, tokens: Sequence[str], *, now: datetime | None = None
    ) -> list[Published]:
        """Publish vc+jwt tokens on the node operator's authority (admin): no holder check."""
        return self._publish(self.plan_tokens(tokens, now=now), now)

    def plan_tokens(
        self, tokens: Sequence[str], *, now: datetime | None = None
    ) -> list[Publication]:
        """Verify vc+jwt tokens in full (signatures, status, chains, label coverage) and say
        what to store, without storing it (a peer's entries are judged like this)."""
        checks = []
        for index, token in enumerate(tokens):
            try:
                checks.append(self.verifier.verify_credential(token, now=now))
            except HansaError as exc:
                exc.pointer = f"/verifiableCredential/{index}{exc.pointer or ''}"
                raise
        self._check_chains(checks, now)
        return plan_publications(
            checks, is_compliance_issuer=self.is_compliance_issuer, holder=None
        )

    def ingest_verified(
        self,
        credentials: Sequence[VerifiedCredential],
        label_token: str,
        *,
        holder: str | None = None,
        now: datetime | None = None,
    ) -> list[Published]:
        """Publish credentials the clearing house has just verified and labelled.

        The clearing house calls this right after it issues ``label_token`` for
        ``credentials`` (its verified credentials with their vc+jwt tokens: the
        ``CredentialCheck`` objects, or ``IssuedLabel.result.credentials``), so that what
        passes compliance reaches the catalogue without a second upload. The label is
        verified here (the clearing house's own: resolved locally) and the digests are
        checked as for any submission; the covered credentials are not verified again.
        ``holder``: the presenter, when only the provider itself may publish.
        """
        label = self.verifier.verify_credential(label_token, now=now)
        checks = [
            CredentialCheck(
                credential=c.credential,
                issuer=c.issuer,
                verification_method="",
                securing="vc-jose",
                token=c.token,
            )
            for c in credentials
        ]
        plan = plan_publications(
            [*checks, label], is_compliance_issuer=self.is_compliance_issuer, holder=holder
        )
        return self._publish(plan, now)

    def _check_chains(self, checks: Sequence[CredentialCheck], now: datetime | None) -> None:
        """Require each signing key to chain to a trusted root: once per key and submission
        (a provider's fifty offerings are signed with one key, its chain is checked once)."""
        if not self.require_x509:
            return
        seen: set[tuple[str, str]] = set()
        for index, check in enumerate(checks):
            key = (check.verification_method, check.issuer)
            if key in seen:
                continue
            seen.add(key)
            try:
                self.verifier.verify_key_chain(
                    check.verification_method, check.issuer, now or _now()
                )
            except HansaError as exc:
                exc.pointer = f"/verifiableCredential/{index}"
                raise

    def _publish(self, plan: Sequence[Publication], now: datetime | None) -> list[Published]:
        now = now or _now()
        published = []
        with self.store.writing() as session:
            for entry, change in self.store.publish(session, plan, now):
                published.append(
                    Published(entry.id, entry.subject, entry.kind, change or "unchanged", entry.seq)
                )
            # A version published here is this catalogue's own, whoever it was learnt from
            # before: the peer it came from no longer deletes or revokes it.
            changed = [p.id for p in published if p.change != "unchanged"]
            if changed:
                session.execute(
                    delete(CatalogueOrigin).where(CatalogueOrigin.entry_id.in_(changed))
                )
        self.sync_rdf()
        return published

    # --- lifecycle -------------------------------------------------------------------------

    def delete(self, entry_id: str, requester: str | None) -> Change:
        """Delete an entry; ``requester`` is the signing participant (None: the node admin).

        Another participant's entry answers 404 like a missing one: deletion requests
        reveal nothing about who owns what.
        """
        with self.store.writing() as session:
            entry = session.scalar(select(CatalogueEntry).where(CatalogueEntry.id == entry_id))
            if entry is None or (requester is not None and entry.owner != requester):
                raise NotFound(
                    f"you have no catalogue entry {entry_id}", code="catalogue.entry_not_found"
                )
            seq = self.store.remove(session, entry, _now())
            session.execute(delete(CatalogueOrigin).where(CatalogueOrigin.entry_id == entry.id))
            change = Change(seq, entry.id, entry.subject, "delete", entry.credential_id, _now())
        self.sync_rdf()
        return change

    def recheck_statuses(self, now: datetime | None = None) -> RecheckReport:
        """Re-verify every active entry: expiry, status lists, issuer trust.

        A background loop calls this every :data:`RECHECK_INTERVAL_SECONDS`; status lists
        are fetched once per list and cached by the status checker. An unreachable list
        leaves the entry as it is (counted as ``unavailable``): a network outage does not
        empty the catalogue; it was checked when it came in and is checked again next round.
        """
        now = now or _now()
        report = RecheckReport()
        numbers = self.store.numbers(states=["active"])
        for start in range(0, len(numbers), 200):
            entries = self.store.by_numbers(numbers[start : start + 200])
            verdicts: list[tuple[int, str, str]] = []
            for number, entry in entries.items():
                report.checked += 1
                verdict = self._recheck(entry, now)
                if verdict is None:
                    continue
                if verdict[0] == "unavailable":
                    report.unavailable += 1
                    continue
                verdicts.append((number, verdict[0], verdict[1]))
            if not verdicts:
                continue
            with self.store.writing() as session:
                for number, kind, reason in verdicts:
                    current = session.get(CatalogueEntry, number)
                    if current is None or current.state != "active":
                        continue
                    self.store.retire(session, current, kind, reason, now)  # type: ignore[arg-type]
                    report.revoked += kind == "revoke"
                    report.expired += kind == "expire"
        self.sync_rdf()
        return report

    def _recheck(self, entry: CatalogueEntry, now: datetime) -> tuple[str, str] | None:
        if entry.valid_until is not None and entry.valid_until <= now:
            return "expire", f"expired at {entry.valid_until.isoformat()}"
        if not self.is_compliance_issuer(entry.label_issuer):
            return "revoke", f"the label's issuer {entry.label_issuer} is no longer trusted"
        for what, token in (("credential", entry.credential_token), ("label", entry.label_token)):
            try:
                self.verifier.verify_credential(token, now=now)
            except HansaError as exc:
                if exc.code == "vc.expired":
                    return "expire", f"the {what} expired"
                if exc.code.startswith(_REVOKED_CODES):
                    return "revoke", f"the {what} no longer verifies: [{exc.code}] {exc.detail}"
                return "unavailable", exc.code
        return None

    # --- search and detail -----------------------------------------------------------------

    def search(
        self,
        query: SearchQuery,
        *,
        page: int | None = None,
        cursor: str | None = None,
        now: datetime | None = None,
    ) -> dict[str, Any]:
        """One page of results with facets, highlights and the next page's cursor."""
        if page is not None and cursor is not None:
            raise BadRequest(
                "give either page or cursor, not both",
                code="catalogue.invalid_page",
                pointer="query:cursor",
            )
        offset = self.cursors.decode(query, cursor) if cursor else ((page or 1) - 1) * query.size
        if page is not None and (page < 1 or offset > MAX_OFFSET):
            raise BadRequest(
                f"page must be between 1 and {MAX_OFFSET // query.size + 1}; narrow the query",
                code="catalogue.invalid_page",
                pointer="query:page",
            )
        query = SearchQuery(query.terms, query.filters, offset, query.size, query.facet_limit)
        with self.store.sessions() as session:
            result = self.store.fts.search(session, query, now or _now())
        items = [search_item(hit.entry, hit) for hit in result.hits if hit.entry is not None]
        next_offset = offset + query.size
        has_next = next_offset < result.total and next_offset <= MAX_OFFSET
        return {
            "total": result.total,
            "page": offset // query.size + 1,
            "size": query.size,
            "items": items,
            "facets": {
                facet: [{"value": value, "count": count} for value, count in values]
                for facet, values in result.facets.items()
            },
            "next": self.cursors.encode(query, next_offset) if has_next else None,
        }

    def entry(self, entry_id: str) -> dict[str, Any]:
        """An entry in full: provider, labels, policy in words, price, DSP address, originals."""
        entry = self.store.get(entry_id)
        if entry is None:
            raise NotFound(f"no catalogue entry {entry_id}", code="catalogue.entry_not_found")
        return entry_detail(entry, self.store.participant_names([entry.owner]))

    def changes_since(self, seq: int, limit: int = 100) -> list[Change]:
        """The change feed after ``seq`` (for peers and projections)."""
        return self.store.changes_since(seq, limit)

    def sparql(self, query: str) -> Any:
        """A SPARQL query over the RDF projection (union of the entry graphs).

        The graph first catches up with the change feed, so writes by another process
        (``hansa catalogue delete``) are seen too.
        """
        if self.rdf is None:
            raise ConfigurationError(
                "this catalogue was opened without its RDF graph", code="catalogue.no_rdf"
            )
        self.sync_rdf()
        return self.rdf.query(query)

    def sparql_endpoint(self, query: str) -> SparqlResult:
        """A query from the public endpoint: read-only, time-limited, capped
        (:mod:`hansa.catalogue.sparql`)."""
        rdf = self.rdf
        if rdf is None:
            raise ConfigurationError(
                "this catalogue was opened without its RDF graph", code="catalogue.no_rdf"
            )
        if self._sparql is None:
            store = rdf.store

            def evaluate(text: str) -> Any:
                return store.query(text, use_default_graph_as_union=True, prefixes=PREFIX_MAP)

            self._sparql = SparqlRunner(evaluate, prefixes=PREFIX_MAP)
        self.sync_rdf()
        return self._sparql.run(query)

    def close(self) -> None:
        """Stop the SPARQL workers (a query still running finishes in the background)."""
        if self._sparql is not None:
            self._sparql.close()

    # --- projections -----------------------------------------------------------------------

    def sync_rdf(self) -> int:
        """Bring the RDF graph up to the change feed; returns the changes applied.

        The first call after opening replays the whole feed into an in-memory graph (or
        what an on-disk graph has not applied yet).
        """
        if self.rdf is None:
            return 0

        def current(ids: Sequence[str]) -> Mapping[str, tuple[dict[str, Any], str] | None]:
            with self.store.sessions() as session:
                rows = session.scalars(
                    select(CatalogueEntry).where(
                        CatalogueEntry.id.in_(list(ids)), CatalogueEntry.state == "active"
                    )
                )
                return {row.id: (row.document, row.label_level) for row in rows}

        return self.rdf.catch_up(self.store.changes_since, current)

    def reindex(self, batch: int = 500) -> int:
        """Rebuild every projection from the signed originals; returns the entries indexed."""
        numbers = self.store.numbers()
        with self.store.writing() as session:
            self.store.fts.clear(session)
        for start in range(0, len(numbers), batch):
            with self.store.writing() as session:
                entries = list(
                    session.scalars(
                        select(CatalogueEntry).where(
                            CatalogueEntry.number.in_(numbers[start : start + batch])
                        )
                    )
                )
                for entry in entries:
                    entry.document = project(_payload(entry.credential_token))
                self.store.project(session, entries)
        if self.rdf is not None:
            self.rdf.clear()
            self.sync_rdf()
        return len(numbers)


def recheck_forever(
    catalogue: CatalogueService,
    stop: threading.Event,
    interval: float = RECHECK_INTERVAL_SECONDS,
) -> None:
    """Call :meth:`CatalogueService.recheck_statuses` every ``interval`` s until ``stop`` is set.

    Run it on a daemon thread of the node; a failing round is logged and the next one runs.
    """
    while not stop.wait(interval):
        try:
            catalogue.recheck_statuses()
        except Exception:  # one bad round must not end the loop
            logger.exception("catalogue status recheck failed; retrying next round")


def _payload(token: str) -> dict[str, Any]:
    # Verified when it came in; reindexing re-reads what was stored, it does not re-judge it.
    return decode_unverified(token)[1]


def open_catalogue(
    engine: Engine,
    sessions: sessionmaker[Session],
    verifier: CredentialVerifier,
    *,
    node_did: str,
    is_compliance_issuer: Callable[[str], bool],
    rdf_path: Path | None = None,
    rdf: bool = True,
    cursor_secret: bytes | None = None,
    require_x509: bool = True,
) -> CatalogueService:
    """Build the catalogue of a node (its full-text tables are created if missing).

    The RDF graph lives in memory unless ``rdf_path`` names a directory (pyoxigraph's
    RocksDB: one process at a time); ``rdf=False`` opens the catalogue without it (the CLI,
    which must not take the running node's graph).
    """
    store = CatalogueStore(sessions, full_text_index_for(engine))
    return CatalogueService(
        store,
        verifier,
        RdfProjection(rdf_path) if rdf else None,
        node_did=node_did,
        is_compliance_issuer=is_compliance_issuer,
        cursor_secret=cursor_secret or os.urandom(32),
        require_x509=require_x509,
    )


__all__ = [
    "RECHECK_INTERVAL_SECONDS",
    "CatalogueService",
    "Published",
    "RecheckReport",
    "open_catalogue",
    "recheck_forever",
]
