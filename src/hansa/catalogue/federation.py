"""Catalogue federation: follow other catalogues' change feeds, trusting none of them.

Each peer's feed (``GET {peer}/catalogue/changes?since=<cursor>``) is pulled page by page
through the node's guarded HTTP client. The feed carries each live entry's signed originals
(the offering's vc+jwt, its label, the evidence), and every entry that arrives is verified
here exactly as a local submission is (:meth:`CatalogueService.plan_tokens`: signatures,
status lists, certificate chains, a label from a compliance issuer *this* catalogue trusts,
digest coverage): trust is never delegated to the peer.

- **Batches are atomic.** A page is validated (shape, sizes, increasing sequence numbers, a
  ``last`` that matches them) and every entry verified before anything is written; one bad
  item rejects the page, the peer is marked ``unhealthy`` with the error and its cursor
  stays, so the catalogue never holds half a page. Entries that are merely out of date by
  now (expired, revoked, suspended: ``_SKIPPED``) are skipped, not held against the peer.
- **No duplicates, no loops.** An entry whose credential and label tokens are already held
  (same id, same bytes, hence same digest) is skipped before verification; learnt entries
  appear in the local feed with their ``origin``. In a ring A -> B -> C -> A an entry comes
  back to A unchanged and stops there.
- **Deletions and revocations** of an entry are taken from the peer it was learnt from only.
- **Health.** A peer that cannot be read is ``unreachable`` (no answer) or ``unhealthy``
  (a bad answer) from ``failing_since``; after :data:`HIDE_AFTER` its entries leave search
  (state ``hidden``, change ``hide``), after :data:`DROP_AFTER` they are deleted and the
  peer is read again from the start when it returns. A peer that answers again gets its
  hidden entries back (change ``restore``).
- **Cursors.** A feed refuses a ``since`` past its last change (``catalogue.invalid_cursor``);
  a follower that gets this answer (the peer's catalogue was reset) reads it from 0 again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from urllib.parse import urlencode

import httpx
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from hansa.catalogue.feed import CARRYING, PeerChange, garbage, parse_page
from hansa.catalogue.ingest import Publication, plan_publications
from hansa.catalogue.models import CatalogueChange, CatalogueEntry
from hansa.catalogue.peer_models import CatalogueOrigin, CataloguePeer
from hansa.catalogue.service import CatalogueService
from hansa.errors import BadRequest, Conflict, HansaError, NotFound, UpstreamError
from hansa.identity.verifier import CredentialCheck

logger = logging.getLogger(__name__)

#: How often the sync worker reads every peer (seconds).
SYNC_INTERVAL_SECONDS = 30.0
#: Changes asked for per page, and the most a page may hold.
PAGE_SIZE = 200
#: Bytes a page may have (the originals are a few KiB per entry).
MAX_PAGE_BYTES = 8 * 1024 * 1024
#: Pages read from one peer per round (the rest next round).
MAX_PAGES_PER_ROUND = 100
#: A failing peer's entries leave search after this, and are deleted after DROP_AFTER.
HIDE_AFTER = timedelta(hours=1)
DROP_AFTER = timedelta(days=7)
#: Verification codes that say an entry is out of date by now, not that the peer lies.
_SKIPPED = ("vc.expired", "vc.revoked", "vc.suspended", "vc.not_yet_valid")


class PeerClient(Protocol):
    """The part of :class:`hansa.fetch.GuardedClient` the sync uses."""

    def get_bytes(
        self,
        url: str,
        *,
        accept: str = ...,
        max_bytes: int | None = ...,
        raise_for_status: bool = ...,
    ) -> Any: ...


def _now() -> datetime:
    return datetime.now(UTC)


def plan_token_sets(
    catalogue: CatalogueService, token_sets: Sequence[Sequence[str]], *, now: datetime | None = None
) -> list[list[Publication] | HansaError]:
    """:meth:`CatalogueService.plan_tokens` for many submissions
    ``[credential, evidence..., label]``: each distinct token is verified once, each
    signing key's chain checked once, and the submissions that share a label are checked
    against it together (a peer's page holds whole batches of one label and one signer).

    Returns, per submission, its publications or the error that refused it.
    """
    verified: dict[str, CredentialCheck | HansaError] = {}
    chains: dict[tuple[str, str], HansaError | None] = {}

    def checks_of(tokens: Sequence[str]) -> list[CredentialCheck]:
        checks = []
        for token in tokens:
            if token not in verified:
                try:
                    verified[token] = catalogue.verifier.verify_credential(token, now=now)
                except HansaError as exc:
                    verified[token] = exc
            check = verified[token]
            if isinstance(check, HansaError):
                raise check
            key = (check.verification_method, check.issuer)
            if catalogue.require_x509 and key not in chains:
                try:
                    catalogue.verifier.verify_key_chain(*key, now or _now())
                    chains[key] = None
                except HansaError as exc:
                    chains[key] = exc
            failed = chains.get(key)
            if failed is not None:
                raise failed
            checks.append(check)
        return checks

    def plan(tokens: Sequence[str]) -> list[Publication] | HansaError:
        try:
            return plan_publications(
                checks_of(tokens), is_compliance_issuer=catalogue.is_compliance_issuer, holder=None
            )
        except HansaError as exc:
            return exc

    results: list[list[Publication] | HansaError | None] = [None] * len(token_sets)
    groups: dict[str, list[int]] = {}
    for index, tokens in enumerate(token_sets):
        groups.setdefault(tokens[-1] if tokens else "", []).append(index)
    for label, members in groups.items():
        firsts = [token_sets[i][0] for i in members if len(token_sets[i]) == 2]
        together: list[Publication] | HansaError | None = None
        if len(members) > 1 and len(firsts) == len(members) == len(set(firsts)):
            together = plan([*firsts, label])
        if isinstance(together, list) and len(together) == len(members):
            by_token = {publication.token: publication for publication in together}
            for i in members:
                results[i] = [by_token[token_sets[i][0]]]
            continue
        for i in members:  # one by one: to say which of them is refused, and why
            results[i] = plan(token_sets[i])
    return [result for result in results if result is not None]


# --- following peers ------------------------------------------------------------------------


@dataclass
class SyncReport:
    url: str
    status: str
    received: int = 0
    stored: int = 0
    removed: int = 0
    skipped: int = 0
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return dict(vars(self))


@dataclass
class _Batch:
    publications: list[tuple[str, Publication]] = field(default_factory=list)
    removals: list[tuple[str, str]] = field(default_factory=list)
    skipped: int = 0


def normalise_url(url: str) -> str:
    """A peer's base URL without trailing slash; https (or http for loopback development)."""
    try:
        parsed = httpx.URL(url.strip())
    except (httpx.InvalidURL, TypeError) as exc:
        raise BadRequest(f"{url!r} is not a URL: {exc}", code="catalogue.invalid_peer") from exc
    if parsed.scheme not in ("https", "http") or not parsed.host or parsed.query:
        raise BadRequest(
            f"{url!r} must be a catalogue's base URL, https://host[:port][/path]",
            code="catalogue.invalid_peer",
        )
    return str(parsed).rstrip("/")


def _peer_json(peer: CataloguePeer) -> dict[str, Any]:
    return {
        "url": peer.url,
        "status": peer.status,
        "cursor": peer.cursor,
        "error": peer.error,
        "since": peer.failing_since.isoformat() if peer.failing_since else None,
        "lastSuccess": peer.last_success_at.isoformat() if peer.last_success_at else None,
        "hidden": peer.hidden,
    }


class CatalogueFederation:
    """The peers of one catalogue and the sync that follows them."""

    def __init__(
        self,
        catalogue: CatalogueService,
        http: PeerClient,
        *,
        clock: Callable[[], datetime] = _now,
        hide_after: timedelta = HIDE_AFTER,
        drop_after: timedelta = DROP_AFTER,
        page_size: int = PAGE_SIZE,
        max_page_bytes: int = MAX_PAGE_BYTES,
    ) -> None:
        self.catalogue = catalogue
        self.store = catalogue.store
        self.http = http
        self.clock = clock
        self.hide_after = hide_after
        self.drop_after = drop_after
        self.page_size = page_size
        self.max_page_bytes = max_page_bytes
        self._sync_lock = threading.Lock()

    # --- peers -----------------------------------------------------------------------------

    def add_peer(self, url: str) -> dict[str, Any]:
        """Follow ``url`` (idempotent)."""
        url = normalise_url(url)
        with self.store.writing() as session:
            peer = session.scalar(select(CataloguePeer).where(CataloguePeer.url == url))
            if peer is None:
                peer = CataloguePeer(url=url, cursor=0, status="new", hidden=False)
                peer.added_at = self.clock()
                session.add(peer)
                session.flush()
            return _peer_json(peer)

    def peers(self) -> list[dict[str, Any]]:
        with self.store.sessions() as session:
            return [_peer_json(p) for p in session.scalars(select(CataloguePeer).order_by("id"))]

    def remove_peer(self, url: str) -> int:
        """Stop following ``url`` and delete the entries learnt from it; returns how many."""
        url = normalise_url(url)
        with self.store.writing() as session:
            peer = session.scalar(select(CataloguePeer).where(CataloguePeer.url == url))
            if peer is None:
                raise NotFound(f"this catalogue follows no peer {url}", code="catalogue.no_peer")
            removed = self._drop_entries(session, url)
            session.delete(peer)
        self.catalogue.sync_rdf()
        return removed

    def problems(self) -> list[dict[str, Any]]:
        """Peers that could not be read, for search answers: url, status, since."""
        with self.store.sessions() as session:
            rows = session.scalars(
                select(CataloguePeer).where(CataloguePeer.failing_since.is_not(None))
            )
            return [
                {
                    "url": p.url,
                    "status": p.status,
                    "since": p.failing_since.isoformat() if p.failing_since else None,
                }
                for p in rows
            ]

    # --- sync ------------------------------------------------------------------------------

    def sync(self) -> list[SyncReport]:
        """Read every peer once (one round at a time), then apply the grace periods."""
        with self._sync_lock:
            with self.store.sessions() as session:
                urls = list(session.scalars(select(CataloguePeer.url).order_by(CataloguePeer.id)))
            reports = [self._sync_peer(url) for url in urls]
            self._apply_grace()
        return reports

    def _sync_peer(self, url: str) -> SyncReport:
        report = SyncReport(url, "healthy")
        with self.store.sessions() as session:
            peer = session.scalar(select(CataloguePeer).where(CataloguePeer.url == url))
            if peer is None:
                return SyncReport(url, "removed")
            cursor = peer.cursor
        try:
            limit = self.page_size
            for _ in range(MAX_PAGES_PER_ROUND):
                try:
                    changes, last = self._read_page(url, cursor, limit)
                except UpstreamError as exc:
                    # Entries with large labels make large pages: ask for fewer changes
                    # before calling the peer's page too large (one change is the floor).
                    if exc.code != "net.too_large" or limit == 1:
                        raise
                    limit = max(1, limit // 4)
                    continue
                if not changes:
                    break
                batch = self._verify(url, changes)
                self._apply(url, batch, last)
                report.received += len(changes)
                report.stored += len(batch.publications)
                report.removed += len(batch.removals)
                report.skipped += batch.skipped
                cursor = last
        except _CursorReset:
            self._record(url, "healthy", None, cursor=0)
            report.status = "reset"
            return report
        except HansaError as exc:
            status = "unreachable" if _unreachable(exc) else "unhealthy"
            report.status, report.error = status, f"[{exc.code}] {exc.detail}"[:1024]
            logger.info("catalogue peer %s is %s: %s", url, status, report.error)
            self._record(url, status, report.error)
            return report
        self._record(url, "healthy", None)
        return report

    def _read_page(self, url: str, cursor: int, limit: int) -> tuple[list[PeerChange], int]:
        query = urlencode({"since": cursor, "limit": limit})
        response = self.http.get_bytes(
            f"{url}/catalogue/changes?{query}",
            accept="application/json",
            max_bytes=self.max_page_bytes,
            raise_for_status=False,
        )
        if response.status == 400 and b"catalogue.invalid_cursor" in response.content:
            raise _CursorReset()
        if not 200 <= response.status < 300:
            raise UpstreamError(
                f"{url} answered HTTP {response.status}",
                code="net.http_status",
                upstream_status=response.status,
            )
        return parse_page(response.json(), cursor, limit)

    def _verify(self, url: str, changes: Sequence[PeerChange]) -> _Batch:
        """Judge a page before anything of it is written (raises on the first bad entry)."""
        batch = _Batch()
        carrying = [c for c in changes if c.kind in CARRYING and c.tokens]
        held: dict[str, tuple[str, str]] = {}
        with self.store.sessions() as session:
            if carrying:
                rows = session.execute(
                    select(
                        CatalogueEntry.id,
                        CatalogueEntry.credential_token,
                        CatalogueEntry.label_token,
                    ).where(CatalogueEntry.id.in_([c.entry_id for c in carrying]))
                )
                held = {row[0]: (row[1], row[2]) for row in rows}
        now = self.clock()
        to_verify: list[PeerChange] = []
        for change in changes:
            if change.kind in ("delete", "revoke", "expire"):
                batch.removals.append((change.entry_id, change.kind))
            elif change.kind not in CARRYING or not change.tokens:
                continue  # superseded since, or the peer's own view (hide)
            elif held.get(change.entry_id) == (change.tokens[0], change.tokens[-1]):
                batch.skipped += 1  # the same credential and label: already here
            else:
                to_verify.append(change)
        planned = plan_token_sets(self.catalogue, [c.tokens for c in to_verify], now=now)
        for change, result in zip(to_verify, planned, strict=True):
            if isinstance(result, HansaError):
                if result.code.startswith(_SKIPPED):
                    batch.skipped += 1
                    continue
                raise UpstreamError(
                    f"change {change.seq} of {url} does not verify here: [{result.code}] "
                    f"{result.detail}",
                    code="catalogue.peer_entry_invalid",
                    reason=result.code,
                )
            if len(result) != 1:
                raise garbage(f"change {change.seq} of {url} carries {len(result)} entries")
            batch.publications.append((change.entry_id, result[0]))
        return batch

    def _apply(self, url: str, batch: _Batch, last: int) -> None:
        now = self.clock()
        with self.store.writing() as session:
            learnt = [stored.id for stored, change in self._publish(session, batch, now) if change]
            if learnt:
                # One delete and one insert for the page, not a lookup per entry.
                session.execute(delete(CatalogueOrigin).where(CatalogueOrigin.entry_id.in_(learnt)))
                session.add_all(
                    CatalogueOrigin(entry_id=entry_id, peer_url=url, received_at=now)
                    for entry_id in learnt
                )
            for entry_id, kind in batch.removals:
                entry = session.scalar(select(CatalogueEntry).where(CatalogueEntry.id == entry_id))
                origin = session.get(CatalogueOrigin, entry_id)
                if entry is None or origin is None or origin.peer_url != url:
                    continue  # not learnt from this peer: not its to remove
                if kind == "delete":
                    self.store.remove(session, entry, now)
                    session.delete(origin)
                elif entry.state == "active":
                    self.store.retire(session, entry, kind, f"{kind}d at {url}", now)  # type: ignore[arg-type]
            peer = session.scalar(select(CataloguePeer).where(CataloguePeer.url == url))
            if peer is not None:
                peer.cursor = last
        self.catalogue.sync_rdf()

    def _publish(
        self, session: Session, batch: _Batch, now: datetime
    ) -> list[tuple[CatalogueEntry, str | None]]:
        """Store the page's entries: in one go, or one by one when one of them conflicts
        (held for another owner, or newer here: ours stands, the rest is stored).
        ``CatalogueStore.publish`` raises its conflicts before it writes anything."""
        publications = [p for _, p in batch.publications]
        subjects = [p.subject for p in publications]
        if len(set(subjects)) == len(subjects):
            try:
                return list(self.store.publish(session, publications, now))
            except Conflict:
                pass
        written: list[tuple[CatalogueEntry, str | None]] = []
        for publication in publications:
            try:
                written += self.store.publish(session, [publication], now)
            except Conflict:
                continue
        return written

    def _record(self, url: str, status: str, error: str | None, cursor: int | None = None) -> None:
        now = self.clock()
        restore = False
        with self.store.writing() as session:
            peer = session.scalar(select(CataloguePeer).where(CataloguePeer.url == url))
            if peer is None:
                return
            peer.status, peer.error = status, error
            if cursor is not None:
                peer.cursor = cursor
            if error is None:
                peer.failing_since, peer.last_success_at = None, now
                if peer.hidden:
                    peer.hidden, restore = False, True
                    self._set_state(session, url, "hidden", "active", "restore", now)
            elif peer.failing_since is None:
                peer.failing_since = now
        if restore:
            self.catalogue.sync_rdf()

    def _apply_grace(self) -> None:
        now = self.clock()
        changed = False
        with self.store.writing() as session:
            failing = session.scalars(
                select(CataloguePeer).where(CataloguePeer.failing_since.is_not(None))
            )
            for peer in failing:
                assert peer.failing_since is not None
                down = now - peer.failing_since
                if down >= self.drop_after:
                    changed |= self._drop_entries(session, peer.url) > 0
                    peer.cursor, peer.hidden = 0, False
                elif down >= self.hide_after and not peer.hidden:
                    peer.hidden = True
                    reason = f"peer {peer.url} unreachable since {peer.failing_since.isoformat()}"
                    changed |= self._set_state(
                        session, peer.url, "active", "hidden", "hide", now, reason
                    )
        if changed:
            self.catalogue.sync_rdf()

    def _learnt(self, session: Session, url: str, state: str | None = None) -> list[CatalogueEntry]:
        query = (
            select(CatalogueEntry)
            .join(CatalogueOrigin, CatalogueOrigin.entry_id == CatalogueEntry.id)
            .where(CatalogueOrigin.peer_url == url)
        )
        if state is not None:
            query = query.where(CatalogueEntry.state == state)
        return list(session.scalars(query))

    def _set_state(
        self,
        session: Session,
        url: str,
        old: str,
        new: str,
        kind: str,
        now: datetime,
        reason: str | None = None,
    ) -> bool:
        entries = self._learnt(session, url, old)
        for entry in entries:
            change = CatalogueChange(
                entry_id=entry.id,
                subject=entry.subject,
                kind=kind,
                credential_id=entry.credential_id,
                at=now,
            )
            session.add(change)
            session.flush()
            entry.state, entry.state_reason, entry.seq, entry.updated_at = (
                new,
                reason,
                change.seq,
                now,
            )
        self.store.project(session, entries)
        return bool(entries)

    def _drop_entries(self, session: Session, url: str) -> int:
        entries = self._learnt(session, url)
        now = self.clock()
        for entry in entries:
            self.store.remove(session, entry, now)
        session.execute(delete(CatalogueOrigin).where(CatalogueOrigin.peer_url == url))
        return len(entries)


class _CursorReset(Exception):
    """The peer refused our cursor: its feed was rebuilt; read it from 0."""


def _unreachable(exc: HansaError) -> bool:
    if exc.code in ("net.timeout", "net.unreachable", "net.tls_failed"):
        return True
    status = exc.extra.get("upstream_status")
    return exc.code == "net.http_status" and isinstance(status, int) and status >= 500


def sync_forever(
    federation: CatalogueFederation,
    stop: threading.Event,
    interval: float = SYNC_INTERVAL_SECONDS,
) -> None:
    """Run :meth:`CatalogueFederation.sync` every ``interval`` s until ``stop`` is set."""
    while not stop.wait(interval):
        try:
            federation.sync()
        except Exception:  # one bad round must not end the loop
            logger.exception("catalogue sync failed; retrying next round")


__all__ = [
    "DROP_AFTER",
    "HIDE_AFTER",
    "SYNC_INTERVAL_SECONDS",
    "CatalogueFederation",
    "SyncReport",
    "normalise_url",
    "plan_token_sets",
    "sync_forever",
]
