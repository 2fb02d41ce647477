"""The catalogue's change feed on the wire: what a catalogue serves to its peers, and how a
follower checks a page before it trusts any of it.

``GET /catalogue/changes?since=n&limit=m`` answers ``{"changes": [...], "last": seq}``; each
change has ``seq``, ``entry``, ``subject``, ``kind``, ``credentialId``, ``at``, ``origin``
(the peer it was learnt from, or null) and, for the latest change of a live entry,
``originals`` (the signed ``credential``, ``label`` and ``evidence`` tokens). A ``since``
past the last change is refused (``catalogue.invalid_cursor``); :func:`parse_page` refuses
anything else that is not such a page (``catalogue.peer_garbage``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from hansa.catalogue.models import CatalogueEntry
from hansa.catalogue.peer_models import CatalogueOrigin
from hansa.catalogue.service import CatalogueService
from hansa.errors import BadRequest, UpstreamError

#: Change kinds of a feed; ``hide``/``restore`` are a catalogue's own view of its peers.
KINDS = frozenset({"insert", "supersede", "restore", "delete", "revoke", "expire", "hide"})
#: Kinds whose latest change carries the entry's originals.
CARRYING = frozenset({"insert", "supersede", "restore"})
#: A label covering many credentials lists a digest for each: labels may be large.
MAX_TOKEN = 1024 * 1024
MAX_EVIDENCE = 16


def garbage(detail: str) -> UpstreamError:
    """``catalogue.peer_garbage``: a peer's answer that is not a change feed page."""
    return UpstreamError(detail, code="catalogue.peer_garbage")


def change_feed(catalogue: CatalogueService, since: int, limit: int) -> dict[str, Any]:
    """One page of this catalogue's change feed with the originals of live entries.

    An ``insert``/``supersede``/``restore`` carries ``originals`` when it is the entry's
    latest change and the entry is active (a later change carries them otherwise).
    """
    last = catalogue.store.last_seq()
    if since > last:
        raise BadRequest(
            f"since={since} is past this feed's last change ({last}); read from 0 again "
            "(the catalogue may have been rebuilt)",
            code="catalogue.invalid_cursor",
            pointer="query:since",
        )
    changes = catalogue.store.changes_since(since, limit)
    ids = list({c.entry_id for c in changes})
    with catalogue.store.sessions() as session:
        entries = {
            e.id: e
            for e in session.scalars(select(CatalogueEntry).where(CatalogueEntry.id.in_(ids)))
        }
        origins = dict(
            session.execute(
                select(CatalogueOrigin.entry_id, CatalogueOrigin.peer_url).where(
                    CatalogueOrigin.entry_id.in_(ids)
                )
            ).all()
        )
    items = []
    for change in changes:
        item = change.to_json()
        item["origin"] = origins.get(change.entry_id)
        entry = entries.get(change.entry_id)
        if (
            change.kind in CARRYING
            and entry is not None
            and entry.seq == change.seq
            and entry.state == "active"
        ):
            item["originals"] = {
                "credential": entry.credential_token,
                "label": entry.label_token,
                "evidence": list(entry.evidence_tokens or []),
            }
        items.append(item)
    return {"changes": items, "last": changes[-1].seq if changes else since}


@dataclass(frozen=True)
class PeerChange:
    seq: int
    entry_id: str
    kind: str
    tokens: tuple[str, ...] = ()
    """credential, evidence..., label (verification order); empty without originals."""


def _token(value: Any, where: str) -> str:
    if not isinstance(value, str) or value.count(".") != 2 or len(value) > MAX_TOKEN:
        raise garbage(f"{where} is not a compact JWS of at most {MAX_TOKEN} characters")
    return value


def parse_page(body: Any, cursor: int, limit: int) -> tuple[list[PeerChange], int]:
    """Validate a peer's page: (changes, new cursor). ``catalogue.peer_garbage`` if it is bad."""
    if not isinstance(body, dict) or not isinstance(body.get("changes"), list):
        raise garbage("the answer is not a change feed page ({'changes': [...], 'last': n})")
    raw, last = body["changes"], body.get("last")
    if len(raw) > limit:
        raise garbage(f"the page holds {len(raw)} changes; {limit} were asked for")
    if not isinstance(last, int) or isinstance(last, bool):
        raise garbage("'last' is not an integer")
    changes: list[PeerChange] = []
    previous = cursor
    for index, item in enumerate(raw):
        where = f"changes[{index}]"
        if not isinstance(item, dict):
            raise garbage(f"{where} is not an object")
        seq, entry_id, kind = item.get("seq"), item.get("entry"), item.get("kind")
        if not isinstance(seq, int) or isinstance(seq, bool) or seq <= previous:
            raise garbage(f"{where}.seq must be an integer after {previous}, got {seq!r}")
        if not isinstance(entry_id, str) or not 0 < len(entry_id) <= 64:
            raise garbage(f"{where}.entry must be an entry id")
        if kind not in KINDS:
            raise garbage(f"{where}.kind {kind!r} is not one of {sorted(KINDS)}")
        tokens: tuple[str, ...] = ()
        originals = item.get("originals")
        if originals is not None:
            if not isinstance(originals, dict) or not isinstance(originals.get("evidence"), list):
                raise garbage(f"{where}.originals must hold credential, label and evidence")
            evidence = originals["evidence"]
            if len(evidence) > MAX_EVIDENCE:
                raise garbage(f"{where}.originals.evidence holds more than {MAX_EVIDENCE} tokens")
            tokens = (
                _token(originals.get("credential"), f"{where}.originals.credential"),
                *(_token(t, f"{where}.originals.evidence") for t in evidence),
                _token(originals.get("label"), f"{where}.originals.label"),
            )
        changes.append(PeerChange(seq, entry_id, str(kind), tokens))
        previous = seq
    if last != (changes[-1].seq if changes else cursor):
        raise garbage(f"'last' is {last} but the page ends at {previous}")
    return changes, last


__all__ = ["CARRYING", "KINDS", "PeerChange", "change_feed", "garbage", "parse_page"]
