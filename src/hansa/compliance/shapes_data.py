"""Credentials as one RDF graph whose every node still knows where it sits in its JSON.

A SHACL result names a focus node and a path; a person needs the field in the credential.
Blank nodes have no name a person can read, so before turning a credential into RDF every
JSON object without an id gets a stand-in IRI (``urn:hansa:node:<random>:<n>``) that maps
back to its JSON pointer; the checker treats stand-ins as the blank nodes they replace.
The RDF comes from :func:`hansa.identity.jsonld.to_dataset` (strict, never fetches), so the
shapes see exactly the triples a JSON-LD processor produces.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyoxigraph

from hansa.compliance.shapes_model import RDF_TYPE, RDFS_SUBCLASS
from hansa.errors import HansaError
from hansa.identity.jsonld import ContextLoader, default_loader, to_dataset

_STAND_IN = "urn:hansa:node:"


@dataclass(frozen=True)
class Place:
    """Where a node is written: its credential, its JSON pointer and the JSON object itself."""

    credential: str
    pointer: str
    obj: Mapping[str, Any]
    keys: KeyExpander


@dataclass
class DataGraph:
    """The union of the credentials' default graphs, indexed for the checker."""

    out: dict[Any, dict[str, list[Any]]] = field(default_factory=dict)
    types: dict[Any, set[str]] = field(default_factory=dict)
    places: dict[Any, Place] = field(default_factory=dict)
    stand_ins: set[Any] = field(default_factory=set)
    subclass_of: dict[str, set[str]] = field(default_factory=dict)

    def objects(self, subject: Any, predicate: str) -> list[Any]:
        return self.out.get(subject, {}).get(predicate, [])

    def add(self, quad: Any) -> None:
        subject, predicate, obj = quad.subject, quad.predicate.value, quad.object
        self.out.setdefault(subject, {}).setdefault(predicate, []).append(obj)
        if predicate == RDF_TYPE and isinstance(obj, pyoxigraph.NamedNode):
            self.types.setdefault(subject, set()).add(obj.value)
        elif (
            predicate == RDFS_SUBCLASS
            and isinstance(obj, pyoxigraph.NamedNode)
            and isinstance(subject, pyoxigraph.NamedNode)
        ):
            self.subclass_of.setdefault(subject.value, set()).add(obj.value)


class KeyExpander:
    """Which IRI a JSON key stands for under a credential's contexts (for error locations only).

    The graph itself always comes from the full JSON-LD algorithm; this approximation (the
    top-level term definitions, prefixes and ``@vocab`` of the contexts) only finds the key a
    result path was written with, and the caller falls back to a compact IRI when it fails.
    """

    def __init__(self, definitions: Mapping[str, Any]) -> None:
        self.definitions = definitions
        vocab = definitions.get("@vocab")
        self.vocab = vocab if isinstance(vocab, str) else None
        self.id_keys = frozenset(
            {"@id"}
            | {term for term, value in definitions.items() if _definition_id(value) == "@id"}
        )
        self.value_keys = frozenset(
            {"@value", "@list", "@set", "@graph"}
            | {
                term
                for term, value in definitions.items()
                if _definition_id(value) in ("@value", "@list", "@set", "@graph")
            }
        )
        self.json_keys = frozenset(
            term
            for term, value in definitions.items()
            if isinstance(value, dict) and value.get("@type") == "@json"
        )
        self._memo: dict[str, str | None] = {}

    def expand(self, key: str) -> str | None:
        if key not in self._memo:
            self._memo[key] = self._expand(key)
        return self._memo[key]

    def _expand(self, key: str) -> str | None:
        if key.startswith("@"):
            return key
        definition = self.definitions.get(key)
        if definition is not None:
            iri = _definition_id(definition)
            return self._resolve(iri if iri is not None else key)
        return self._resolve(key)

    def _resolve(self, value: str, depth: int = 0) -> str | None:
        if value.startswith("@"):
            return value
        if ":" in value:
            prefix, _, suffix = value.partition(":")
            if suffix.startswith("//") or prefix not in self.definitions or depth > 4:
                return value
            base = _definition_id(self.definitions[prefix])
            if base is None:
                return value
            resolved = self._resolve(base, depth + 1)
            return None if resolved is None else resolved + suffix
        return self.vocab + value if self.vocab is not None else None


def _definition_id(definition: Any) -> str | None:
    if isinstance(definition, str):
        return definition
    if isinstance(definition, dict):
        value = definition.get("@id")
        return value if isinstance(value, str) else None
    return None


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


class GraphBuilder:
    """Turns (credential id, credential) pairs into a :class:`DataGraph`."""

    def __init__(self, loader: ContextLoader | None = None) -> None:
        self.loader = loader or default_loader()
        self._expanders: dict[tuple[str, ...], KeyExpander] = {}

    def expander(self, context: Any) -> KeyExpander:
        urls = context if isinstance(context, list) else [context]
        key = tuple(url if isinstance(url, str) else repr(url) for url in urls)
        expander = self._expanders.get(key)
        if expander is None:
            definitions: dict[str, Any] = {}
            for entry in urls:
                document: Any = entry
                if isinstance(entry, str):
                    try:
                        document = self.loader.document(entry)
                    except HansaError:
                        continue
                if isinstance(document, dict):
                    inner = document.get("@context", document)
                    for item in inner if isinstance(inner, list) else [inner]:
                        if isinstance(item, dict):
                            definitions.update(item)
            expander = KeyExpander(definitions)
            if len(self._expanders) < 64:
                self._expanders[key] = expander
        return expander

    def build(
        self, credentials: Sequence[tuple[str, Mapping[str, Any]]]
    ) -> tuple[DataGraph, list[tuple[str, HansaError]]]:
        """The graph of all credential subjects, and the credentials that are not valid JSON-LD.

        Only the subjects are checked, as Gaia-X does: the credential around them (issuer,
        dates, a ``type`` that repeats the subject's class) is the envelope, not the claim.
        """
        graph = DataGraph()
        broken: list[tuple[str, HansaError]] = []
        for credential_id, credential in credentials:
            if not isinstance(credential, Mapping):
                continue
            context = credential.get("@context")
            keys = self.expander(context)
            prefix = f"{_STAND_IN}{secrets.token_hex(8)}:"
            places: dict[str, Place] = {}
            marker = _Marker(credential_id, prefix, keys, places)
            for pointer, subject in _subjects(credential):
                document = marker.mark({"@context": context, **subject}, pointer)
                try:
                    dataset = to_dataset(document, loader=self.loader)
                except HansaError as exc:
                    broken.append((credential_id, exc))
                    break
                literals = marker.literals
                for quad in dataset:
                    if isinstance(quad.graph_name, pyoxigraph.DefaultGraph):
                        literal = literals.get(quad.object.value) if literals else None
                        if literal is not None and not isinstance(
                            quad.object, pyoxigraph.BlankNode
                        ):
                            quad = pyoxigraph.Quad(quad.subject, quad.predicate, literal)
                        graph.add(quad)
            for iri, place in places.items():
                node = pyoxigraph.NamedNode(iri)
                if iri.startswith(prefix):
                    graph.stand_ins.add(node)
                    graph.places[node] = place
                else:
                    known = graph.places.get(node)
                    if known is None or len(place.obj) > len(known.obj):
                        graph.places[node] = place
        return graph, broken


def _subjects(credential: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    subject = credential.get("credentialSubject")
    if isinstance(subject, Mapping):
        return [("/credentialSubject", subject)]
    if isinstance(subject, list):
        return [
            (f"/credentialSubject/{index}", item)
            for index, item in enumerate(subject)
            if isinstance(item, Mapping)
        ]
    return []


class _Marker:
    """A copy of a credential with a stand-in id on every JSON object that is a blank node."""

    def __init__(self, credential: str, prefix: str, keys: KeyExpander, places: dict[str, Place]):
        self.credential = credential
        self.prefix = prefix
        self.keys = keys
        self.places = places
        self.count = 0
        self.literals: dict[str, Any] = {}

    def typed_literal(self, value: Mapping[str, Any]) -> str | None:
        """A stand-in string for ``{"@value": "...", "@type": "<http(s) IRI>"}``, or None.

        pyld takes ~1 ms per credential where the fast path takes ~0.1 ms, and the fast path
        refuses value objects; typed strings (``xsd:anyURI`` in every offering) are the only
        ones Gaia-X credentials use. So such a value object becomes a unique string, and the
        literal it stands for replaces that string in the triples afterwards.
        """
        if set(value) != {"@value", "@type"}:
            return None
        text, datatype = value["@value"], value["@type"]
        if not isinstance(text, str) or not isinstance(datatype, str):
            return None
        iri = self.keys.expand(datatype)
        if iri is None or not iri.startswith(("http://", "https://")) or " " in iri:
            return None
        self.count += 1
        marker = f"{self.prefix}v{self.count}"
        self.literals[marker] = pyoxigraph.Literal(text, datatype=pyoxigraph.NamedNode(iri))
        return marker

    def mark(self, value: Any, pointer: str) -> Any:
        if isinstance(value, list):
            return [self.mark(item, f"{pointer}/{index}") for index, item in enumerate(value)]
        if not isinstance(value, Mapping):
            return value
        keys = self.keys
        if any(key in keys.value_keys for key in value):
            # a value object (or list/set/graph object): not a node
            marker = self.typed_literal(value)
            return value if marker is None else marker
        copy: dict[str, Any] = {}
        for key, item in value.items():
            if key == "@context" or key in keys.json_keys:
                copy[key] = item
            else:
                copy[key] = self.mark(item, f"{pointer}/{_escape(str(key))}")
        place = Place(self.credential, pointer, value, keys)
        ids = [value[key] for key in value if key in keys.id_keys]
        if ids:
            if isinstance(ids[0], str):
                iri = ids[0]
                known = self.places.get(iri)
                if known is None or len(value) > len(known.obj):
                    self.places[iri] = place
            return copy
        self.count += 1
        iri = f"{self.prefix}{self.count}"
        copy["@id"] = iri
        self.places[iri] = place
        return copy
