"""SHACL shapes compiled into plain Python objects, for a checker that runs in microseconds.

pyshacl needs seconds to load the Gaia-X 25.11 bundle and ~50 ms per check; the Rust engines
on PyPI (``shacl`` 0.3.4: ~12 ms per check, ``pyshacl-turbo`` 0.6.5: ~135 ms per check on
this bundle) pay for the size of the shapes graph on every call. The Gaia-X shapes use a
small part of SHACL Core, so they are parsed once (pyoxigraph, ~0.2 s) into :class:`Shape`
objects and checked by :mod:`hansa.compliance.shapes_check`.

Supported: ``sh:targetClass``, ``sh:property`` with predicate paths, ``sh:minCount``,
``sh:maxCount``, ``sh:datatype``, ``sh:nodeKind``, ``sh:class``, ``sh:in``, ``sh:hasValue``,
``sh:pattern`` (+ ``sh:flags``), ``sh:min/maxInclusive``, ``sh:min/maxExclusive``,
``sh:min/maxLength``, ``sh:node``, ``sh:or``, ``sh:and``, ``sh:xone``, ``sh:not``,
``sh:closed`` with ``sh:ignoredProperties``, ``sh:message``, ``sh:deactivated``. Anything else
that would constrain data (another target, a complex path, SPARQL) is refused when the
shapes are loaded: a checker that silently skipped a rule would pass what the rule forbids.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pyoxigraph

from hansa.errors import BadRequest

SH = "http://www.w3.org/ns/shacl#"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
RDFS = "http://www.w3.org/2000/01/rdf-schema#"
RDF_TYPE = RDF + "type"
RDFS_SUBCLASS = RDFS + "subClassOf"

# Shapes-graph predicates that say nothing about data (documentation, UI hints).
_INERT = {
    SH + name
    for name in (
        "description",
        "name",
        "order",
        "group",
        "defaultValue",
        "severity",
        "labelTemplate",
        "declare",
        "prefixes",
        "suggestedShapesGraph",
    )
} | {RDF_TYPE, RDFS + "label", RDFS + "comment", RDFS_SUBCLASS}
_HANDLED = {
    SH + name
    for name in (
        "targetClass",
        "property",
        "path",
        "minCount",
        "maxCount",
        "datatype",
        "nodeKind",
        "class",
        "in",
        "hasValue",
        "pattern",
        "flags",
        "minInclusive",
        "maxInclusive",
        "minExclusive",
        "maxExclusive",
        "minLength",
        "maxLength",
        "node",
        "or",
        "and",
        "xone",
        "not",
        "closed",
        "ignoredProperties",
        "message",
        "deactivated",
    )
}
_NODE_KINDS = {
    SH + "IRI": frozenset({"iri"}),
    SH + "BlankNode": frozenset({"blank"}),
    SH + "Literal": frozenset({"literal"}),
    SH + "BlankNodeOrIRI": frozenset({"iri", "blank"}),
    SH + "BlankNodeOrLiteral": frozenset({"blank", "literal"}),
    SH + "IRIOrLiteral": frozenset({"iri", "literal"}),
}


@dataclass(eq=False)
class Shape:
    """One node or property shape; a property shape has a ``path``.

    The value constraints (datatype ... xone) apply to the focus node of a node shape and to
    each value of a property shape, as in SHACL.
    """

    key: str
    """The shape's IRI, or ``_:`` + a blank node label."""
    path: str | None = None
    name: str | None = None
    description: str | None = None
    message: str | None = None
    targets: tuple[str, ...] = ()
    min_count: int | None = None
    max_count: int | None = None
    datatype: str | None = None
    node_kind: frozenset[str] | None = None
    node_kind_iri: str | None = None
    classes: tuple[str, ...] = ()
    in_values: frozenset[Any] | None = None
    in_list: tuple[Any, ...] = ()
    has_value: tuple[Any, ...] = ()
    pattern: re.Pattern[str] | None = None
    min_inclusive: Any = None
    max_inclusive: Any = None
    min_exclusive: Any = None
    max_exclusive: Any = None
    min_length: int | None = None
    max_length: int | None = None
    node: list[Shape] = field(default_factory=list)
    or_: list[list[Shape]] = field(default_factory=list)
    and_: list[list[Shape]] = field(default_factory=list)
    xone: list[list[Shape]] = field(default_factory=list)
    not_: list[Shape] = field(default_factory=list)
    properties: list[Shape] = field(default_factory=list)
    closed: bool = False
    allowed: frozenset[str] = frozenset()
    deactivated: bool = False

    @property
    def named(self) -> bool:
        return not self.key.startswith("_:")


@dataclass
class ShapesGraph:
    """Compiled shapes: the targeted node shapes and the class hierarchy the shapes state."""

    shapes: list[Shape]
    subclass_of: dict[str, set[str]]
    prefixes: dict[str, str]


class _Triples:
    """The shapes graph as subject -> predicate -> objects."""

    def __init__(self, quads: Iterable[Any]) -> None:
        self.by_subject: dict[Any, dict[str, list[Any]]] = {}
        for quad in quads:
            self.by_subject.setdefault(quad.subject, {}).setdefault(
                quad.predicate.value, []
            ).append(quad.object)

    def objects(self, subject: Any, predicate: str) -> list[Any]:
        return self.by_subject.get(subject, {}).get(predicate, [])

    def one(self, subject: Any, predicate: str) -> Any:
        values = self.objects(subject, predicate)
        if len(values) > 1:
            raise _invalid(f"{_label(subject)} has {len(values)} values for {predicate}")
        return values[0] if values else None

    def rdf_list(self, head: Any) -> list[Any]:
        items: list[Any] = []
        seen: set[Any] = set()
        while not (isinstance(head, pyoxigraph.NamedNode) and head.value == RDF + "nil"):
            if head in seen or head is None:
                raise _invalid(f"malformed RDF list at {_label(head)}")
            seen.add(head)
            items.append(self.one(head, RDF + "first"))
            head = self.one(head, RDF + "rest")
        return items


def _invalid(detail: str) -> BadRequest:
    return BadRequest(f"invalid SHACL shapes: {detail}", code="shapes.invalid")


def _label(term: Any) -> str:
    if isinstance(term, pyoxigraph.NamedNode):
        return term.value
    return str(term)


def _key(term: Any) -> str:
    if isinstance(term, pyoxigraph.BlankNode):
        return "_:" + term.value
    return str(term.value)


def _literal_text(term: Any) -> str | None:
    return term.value if isinstance(term, pyoxigraph.Literal) else None


def _int(term: Any, what: str) -> int | None:
    if term is None:
        return None
    try:
        return int(term.value)
    except (AttributeError, ValueError):
        raise _invalid(f"{what} must be an integer, not {term}") from None


_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE}


class _Compiler:
    def __init__(self, triples: _Triples) -> None:
        self.t = triples
        self.done: dict[Any, Shape] = {}

    def shape(self, subject: Any) -> Shape:
        existing = self.done.get(subject)
        if existing is not None:
            return existing
        t = self.t
        shape = Shape(key=_key(subject))
        self.done[subject] = shape  # before recursing: shapes may refer to each other
        props = t.by_subject.get(subject, {})
        unknown = sorted(p for p in props if p not in _HANDLED and p not in _INERT)
        unknown = [p for p in unknown if p.startswith(SH)]
        if unknown:
            raise BadRequest(
                f"shape {shape.key} uses {', '.join(unknown)}, which Hansa's SHACL checker "
                "does not implement; it refuses the shapes rather than skip the rule",
                code="shapes.unsupported",
            )
        path = t.one(subject, SH + "path")
        if path is not None:
            if not isinstance(path, pyoxigraph.NamedNode):
                raise BadRequest(
                    f"shape {shape.key} has a complex sh:path; only predicate paths are supported",
                    code="shapes.unsupported",
                )
            shape.path = path.value
        names = t.objects(subject, SH + "name")  # one per language at most; the first will do
        shape.name = _literal_text(names[0]) if names else None
        descriptions = t.objects(subject, SH + "description")
        shape.description = _literal_text(descriptions[0]) if descriptions else None
        messages = t.objects(subject, SH + "message")
        shape.message = _literal_text(messages[0]) if messages else None
        shape.targets = tuple(o.value for o in t.objects(subject, SH + "targetClass"))
        shape.min_count = _int(t.one(subject, SH + "minCount"), "sh:minCount")
        shape.max_count = _int(t.one(subject, SH + "maxCount"), "sh:maxCount")
        datatype = t.one(subject, SH + "datatype")
        shape.datatype = datatype.value if datatype is not None else None
        kind = t.one(subject, SH + "nodeKind")
        if kind is not None:
            if kind.value not in _NODE_KINDS:
                raise _invalid(f"unknown sh:nodeKind {kind}")
            shape.node_kind = _NODE_KINDS[kind.value]
            shape.node_kind_iri = kind.value
        shape.classes = tuple(o.value for o in t.objects(subject, SH + "class"))
        in_head = t.one(subject, SH + "in")
        if in_head is not None:
            shape.in_list = tuple(t.rdf_list(in_head))
            shape.in_values = frozenset(shape.in_list)
        shape.has_value = tuple(t.objects(subject, SH + "hasValue"))
        pattern = t.one(subject, SH + "pattern")
        if pattern is not None:
            flags = 0
            for flag in _literal_text(t.one(subject, SH + "flags")) or "":
                flags |= _FLAGS.get(flag, 0)
            try:
                shape.pattern = re.compile(pattern.value, flags)
            except re.error as exc:
                raise _invalid(f"sh:pattern {pattern.value!r} of {shape.key}: {exc}") from exc
        shape.min_inclusive = t.one(subject, SH + "minInclusive")
        shape.max_inclusive = t.one(subject, SH + "maxInclusive")
        shape.min_exclusive = t.one(subject, SH + "minExclusive")
        shape.max_exclusive = t.one(subject, SH + "maxExclusive")
        shape.min_length = _int(t.one(subject, SH + "minLength"), "sh:minLength")
        shape.max_length = _int(t.one(subject, SH + "maxLength"), "sh:maxLength")
        shape.node = [self.shape(o) for o in t.objects(subject, SH + "node")]
        shape.or_ = [self.members(o) for o in t.objects(subject, SH + "or")]
        shape.and_ = [self.members(o) for o in t.objects(subject, SH + "and")]
        shape.xone = [self.members(o) for o in t.objects(subject, SH + "xone")]
        shape.not_ = [self.shape(o) for o in t.objects(subject, SH + "not")]
        shape.properties = [self.shape(o) for o in t.objects(subject, SH + "property")]
        closed = t.one(subject, SH + "closed")
        shape.closed = closed is not None and closed.value == "true"
        if shape.closed:
            ignored: set[str] = set()
            for head in t.objects(subject, SH + "ignoredProperties"):
                ignored.update(item.value for item in t.rdf_list(head))
            shape.allowed = frozenset(
                {p.path for p in shape.properties if p.path is not None} | ignored
            )
        deactivated = t.one(subject, SH + "deactivated")
        shape.deactivated = deactivated is not None and deactivated.value == "true"
        return shape

    def members(self, head: Any) -> list[Shape]:
        return [self.shape(item) for item in self.t.rdf_list(head)]


_PREFIX = re.compile(r"@prefix\s+([A-Za-z][\w.-]*)?:\s*<([^>]*)>", re.IGNORECASE)


def _prefixes(text: str) -> dict[str, str]:
    return {prefix or "": iri for prefix, iri in _PREFIX.findall(text)}


def compile_shapes(turtle: str) -> ShapesGraph:
    """Parse SHACL shapes in Turtle and compile every shape that has a target."""
    try:
        quads = list(pyoxigraph.parse(turtle, format=pyoxigraph.RdfFormat.TURTLE))
    except (SyntaxError, ValueError) as exc:
        raise _invalid(f"the Turtle does not parse: {exc}") from exc
    triples = _Triples(quads)
    compiler = _Compiler(triples)
    roots = [
        subject
        for subject, props in triples.by_subject.items()
        if SH + "targetClass" in props
        or any(SH + kind in props for kind in ("targetNode", "targetSubjectsOf"))
        or any(SH + kind in props for kind in ("targetObjectsOf", "target"))
    ]
    shapes = [compiler.shape(subject) for subject in roots]
    subclass_of: dict[str, set[str]] = {}
    for quad in quads:
        if quad.predicate.value == RDFS_SUBCLASS and isinstance(quad.object, pyoxigraph.NamedNode):
            subclass_of.setdefault(_key(quad.subject), set()).add(quad.object.value)
    return ShapesGraph(
        shapes=[s for s in shapes if not s.deactivated],
        subclass_of=subclass_of,
        prefixes=_prefixes(turtle),
    )


def iter_shapes(shapes: Iterable[Shape]) -> Iterator[Shape]:
    """Every shape reachable from ``shapes`` (each once)."""
    seen: set[int] = set()
    stack = list(shapes)
    while stack:
        shape = stack.pop()
        if id(shape) in seen:
            continue
        seen.add(id(shape))
        yield shape
        stack.extend(shape.properties)
        stack.extend(shape.node)
        stack.extend(shape.not_)
        for group in (*shape.or_, *shape.and_, *shape.xone):
            stack.extend(group)
