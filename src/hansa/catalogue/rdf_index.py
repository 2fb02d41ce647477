"""The catalogue as an RDF graph (pyoxigraph): one named graph per active entry.

Where it lives: on disk in ``<data_dir>/catalogue-rdf`` for a node (a RocksDB directory, one
process at a time), in memory when no path is given (tests, benchmarks). Either way it is a
projection: it records the last change it applied (``watermark``) and catches up from the
change feed when opened (:meth:`RdfProjection.catch_up`), so a crash between a database
commit and the graph update costs nothing but a replay; ``clear`` plus ``catch_up`` from 0
rebuilds it.

Each entry's graph ``urn:hansa:catalogue:entry:<id>`` describes its subject with the
Gaia-X terms it was published with: ``rdf:type gx:<Type>``, ``gx:providedBy``,
``schema:name``, ``schema:description``, ``gx:keyword``, ``gx:formatType``,
``gx:countryCode``, ``gx:license``, ``gx:labelLevel``, plus ``hansa:entry`` (the entry id),
``hansa:priceModel`` and ``hansa:dspEndpoint``. Queries see the union of all graphs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyoxigraph as ox

from hansa.catalogue.offering import GX, HANSA, SCHEMA

RDF_TYPE = ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
_STATE_GRAPH = ox.NamedNode("urn:hansa:catalogue:state")
_STATE_NODE = ox.NamedNode("urn:hansa:catalogue")
_WATERMARK = ox.NamedNode(HANSA + "watermark")
PREFIXES = (
    f"PREFIX gx: <{GX}>\nPREFIX schema: <{SCHEMA}>\nPREFIX hansa: <{HANSA}>\n"
    "PREFIX rdf: <http://www.w3.org/1999/02/22-rdf-syntax-ns#>\n"
)


def entry_graph(entry_id: str) -> ox.NamedNode:
    return ox.NamedNode(f"urn:hansa:catalogue:entry:{entry_id}")


def _node(value: str) -> ox.NamedNode | ox.Literal:
    """An IRI when the value is one (a DID, a URL, a URN), else a plain literal."""
    if ":" in value and " " not in value and not value.startswith(":"):
        try:
            return ox.NamedNode(value)
        except ValueError:
            pass
    return ox.Literal(value)


def entry_quads(entry_id: str, document: Mapping[str, Any], label_level: str) -> list[ox.Quad]:
    """The quads of one entry's graph (pure: the same document gives the same quads)."""
    graph = entry_graph(entry_id)
    subject_id = str(document.get("subject") or f"urn:hansa:catalogue:subject:{entry_id}")
    subject = _node(subject_id)
    if not isinstance(subject, ox.NamedNode):
        subject = ox.NamedNode(f"urn:hansa:catalogue:subject:{entry_id}")
    triples: list[tuple[ox.NamedNode, ox.NamedNode | ox.Literal]] = [
        (RDF_TYPE, ox.NamedNode(GX + str(document.get("type") or "Resource"))),
        (ox.NamedNode(HANSA + "entry"), ox.Literal(entry_id)),
        (ox.NamedNode(GX + "labelLevel"), ox.Literal(label_level)),
    ]

    def add(predicate: str, values: Iterable[Any], literal: bool = True) -> None:
        for value in values:
            if value not in (None, ""):
                obj = ox.Literal(str(value)) if literal else _node(str(value))
                triples.append((ox.NamedNode(predicate), obj))

    add(GX + "providedBy", [document.get("provider")], literal=False)
    add(SCHEMA + "name", [document.get("name")])
    add(SCHEMA + "description", [document.get("description")])
    add(GX + "keyword", document.get("keywords") or [])
    add(GX + "formatType", document.get("formats") or [])
    add(GX + "countryCode", document.get("countries") or [])
    add(GX + "license", document.get("licences") or [])
    price = document.get("price")
    if isinstance(price, dict):
        add(HANSA + "priceModel", [price.get("priceModel")])
    add(HANSA + "dspEndpoint", [document.get("dspEndpoint")], literal=False)
    return [ox.Quad(subject, predicate, obj, graph) for predicate, obj in triples]


class RdfProjection:
    """The catalogue's RDF graph, kept in step with the change feed."""

    def __init__(self, path: Path | None = None) -> None:
        if path is not None:
            path.mkdir(parents=True, exist_ok=True)
        self.store = ox.Store(str(path)) if path is not None else ox.Store()
        self._lock = threading.RLock()

    # --- state -----------------------------------------------------------------------------

    @property
    def watermark(self) -> int:
        """The last change seq applied."""
        for quad in self.store.quads_for_pattern(_STATE_NODE, _WATERMARK, None, _STATE_GRAPH):
            if isinstance(quad.object, ox.Literal):
                return int(quad.object.value)
        return 0

    def _set_watermark(self, seq: int) -> None:
        self.store.remove_graph(_STATE_GRAPH)
        self.store.add(ox.Quad(_STATE_NODE, _WATERMARK, ox.Literal(str(seq)), _STATE_GRAPH))

    # --- updates ---------------------------------------------------------------------------

    def put(self, entry_id: str, document: Mapping[str, Any], label_level: str) -> None:
        with self._lock:
            self.store.remove_graph(entry_graph(entry_id))
            self.store.extend(entry_quads(entry_id, document, label_level))

    def remove(self, entry_id: str) -> None:
        with self._lock:
            self.store.remove_graph(entry_graph(entry_id))

    def clear(self) -> None:
        with self._lock:
            self.store.clear()

    def catch_up(
        self,
        changes_since: Callable[[int, int], Sequence[Any]],
        current: Callable[[Sequence[str]], Mapping[str, tuple[dict[str, Any], str] | None]],
        batch: int = 500,
    ) -> int:
        """Apply every change after the watermark; returns how many were applied.

        ``changes_since(seq, limit)`` is the store's feed; ``current(entry_ids)`` gives each
        entry's document and label level if it is active now, or None (then it leaves the graph).
        """
        applied = 0
        with self._lock:  # one catch-up at a time, so the watermark never goes back
            while True:
                changes = changes_since(self.watermark, batch)
                if not changes:
                    return applied
                ids = list(dict.fromkeys(change.entry_id for change in changes))
                now = current(ids)
                quads: list[ox.Quad] = []
                for entry_id in ids:
                    self.store.remove_graph(entry_graph(entry_id))
                    state = now.get(entry_id)
                    if state is not None:
                        quads.extend(entry_quads(entry_id, state[0], state[1]))
                self.store.extend(quads)
                self._set_watermark(int(changes[-1].seq))
                applied += len(changes)

    # --- reads -----------------------------------------------------------------------------

    def query(self, sparql: str) -> Any:
        """A SPARQL query over the union of the entry graphs (``gx:``, ``schema:`` predefined)."""
        return self.store.query(PREFIXES + sparql, use_default_graph_as_union=True)

    def entry_quads(self) -> Iterator[ox.Quad]:
        """Every quad except the projection's own bookkeeping."""
        for quad in self.store:
            if quad.graph_name != _STATE_GRAPH:
                yield quad

    def flush(self) -> None:
        self.store.flush()
