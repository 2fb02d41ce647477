"""SHACL Core semantics over a :class:`DataGraph`, for the shapes :mod:`shapes_model` compiles.

Written to agree with pyshacl (the reference): tests/compliance/test_shapes_differential.py
runs valid and broken credentials of every supported type through both.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import pyoxigraph

from hansa.compliance.shapes_data import DataGraph
from hansa.compliance.shapes_model import RDF_TYPE, Shape

XSD = "http://www.w3.org/2001/XMLSchema#"
_MAX_DEPTH = 32  # sh:node / sh:or nesting followed before a node counts as non-conforming


@dataclass(frozen=True)
class Failure:
    """One SHACL validation result."""

    root: Shape
    """The targeted node shape the check started from."""
    shape: Shape
    """The shape whose constraint failed (a property shape, or ``root``)."""
    component: str
    """The constraint, e.g. ``minCount``, ``datatype``, ``in``, ``or``, ``closed``."""
    focus: Any
    path: str | None
    value: Any


_INTEGER = re.compile(r"^[+-]?\d+$")
_DECIMAL = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
_FLOAT = re.compile(r"^([+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?|[+-]?INF|NaN)$")
_DATETIME = re.compile(r"^-?\d{4,}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?$")
_DATE = re.compile(r"^-?\d{4,}-\d{2}-\d{2}(Z|[+-]\d{2}:\d{2})?$")
_INTEGER_TYPES = {
    XSD + name
    for name in (
        "integer",
        "int",
        "long",
        "short",
        "byte",
        "nonNegativeInteger",
        "positiveInteger",
        "nonPositiveInteger",
        "negativeInteger",
        "unsignedInt",
        "unsignedLong",
        "unsignedShort",
        "unsignedByte",
    )
}


def well_formed(literal: Any) -> bool:
    """Whether a literal's lexical form is valid for its (XSD) datatype; other types pass."""
    datatype, text = literal.datatype.value, literal.value
    if datatype in _INTEGER_TYPES:
        return _INTEGER.match(text) is not None
    if datatype == XSD + "decimal":
        return _DECIMAL.match(text) is not None
    if datatype in (XSD + "float", XSD + "double"):
        return _FLOAT.match(text) is not None
    if datatype == XSD + "boolean":
        return text in ("true", "false", "1", "0")
    if datatype == XSD + "dateTime":
        if _DATETIME.match(text) is None:
            return False
        try:
            datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return False
        return True
    if datatype == XSD + "date":
        if _DATE.match(text) is None:
            return False
        try:
            date.fromisoformat(text[:10])
        except ValueError:
            return False
        return True
    return True


def _number(literal: Any) -> Decimal | float | None:
    if not isinstance(literal, pyoxigraph.Literal):
        return None
    datatype, text = literal.datatype.value, literal.value
    try:
        if datatype in _INTEGER_TYPES or datatype == XSD + "decimal":
            return Decimal(text)
        if datatype in (XSD + "float", XSD + "double"):
            return float(text)
    except (InvalidOperation, ValueError):
        return None
    return None


def _compare(value: Any, bound: Any) -> int | None:
    """-1/0/1 comparing two literals, or None when they are not comparable."""
    left, right = _number(value), _number(bound)
    if left is not None and right is not None:
        a, b = (float(left), float(right)) if float in (type(left), type(right)) else (left, right)
        return (a > b) - (a < b)
    if (
        isinstance(value, pyoxigraph.Literal)
        and isinstance(bound, pyoxigraph.Literal)
        and value.datatype == bound.datatype
        and value.datatype.value in (XSD + "dateTime", XSD + "date", XSD + "string")
    ):
        return (value.value > bound.value) - (value.value < bound.value)
    return None


class Checker:
    """Validates a :class:`DataGraph` against compiled shapes."""

    def __init__(self, shapes: list[Shape], subclass_of: Mapping[str, Iterable[str]]) -> None:
        self.shapes = shapes
        self.subclass_of = {cls: set(parents) for cls, parents in subclass_of.items()}
        self._supers: dict[str, frozenset[str]] = {}
        self._by_target: dict[str, list[Shape]] = {}
        for shape in shapes:
            for target in shape.targets:
                self._by_target.setdefault(target, []).append(shape)

    def superclasses(self, cls: str, extra: Mapping[str, set[str]] | None = None) -> frozenset[str]:
        """``cls`` and every class it is an rdfs:subClassOf, transitively."""
        if not extra:
            cached = self._supers.get(cls)
            if cached is not None:
                return cached
        seen = {cls}
        stack = [cls]
        while stack:
            current = stack.pop()
            parents = set(self.subclass_of.get(current, ()))
            if extra:
                parents |= extra.get(current, set())
            for parent in parents - seen:
                seen.add(parent)
                stack.append(parent)
        result = frozenset(seen)
        if not extra:
            self._supers[cls] = result
        return result

    def check(self, graph: DataGraph) -> list[Failure]:
        run = _Run(self, graph)
        failures: list[Failure] = []
        for node, types in graph.types.items():
            shapes: dict[int, Shape] = {}
            for type_ in types:
                for cls in run.classes_of_type(type_):
                    for shape in self._by_target.get(cls, ()):
                        shapes[id(shape)] = shape
            for shape in shapes.values():
                run.node_shape(shape, shape, node, failures, 0)
        return failures


class _Run:
    """One validation: the graph, the checker and memoised class lookups."""

    def __init__(self, checker: Checker, graph: DataGraph) -> None:
        self.checker = checker
        self.graph = graph
        self.extra = graph.subclass_of or None
        self._classes: dict[str, frozenset[str]] = {}

    def classes_of_type(self, type_: str) -> frozenset[str]:
        result = self._classes.get(type_)
        if result is None:
            result = self._classes[type_] = self.checker.superclasses(type_, self.extra)
        return result

    def is_instance(self, node: Any, cls: str) -> bool:
        return any(cls in self.classes_of_type(t) for t in self.graph.types.get(node, ()))

    def kind(self, node: Any) -> str:
        if isinstance(node, pyoxigraph.Literal):
            return "literal"
        if isinstance(node, pyoxigraph.BlankNode) or node in self.graph.stand_ins:
            return "blank"
        return "iri"

    # --- shapes ----------------------------------------------------------------------------

    def conforms(self, shape: Shape, focus: Any, depth: int) -> bool:
        if depth > _MAX_DEPTH:
            return False
        if shape.path is not None:
            return self.property_shape(shape, shape, focus, None, depth)
        return self.node_shape(shape, shape, focus, None, depth)

    def node_shape(
        self, root: Shape, shape: Shape, focus: Any, out: list[Failure] | None, depth: int
    ) -> bool:
        """Check ``focus`` against a node shape; failures go to ``out`` (None: stop at first)."""
        ok = self.values(root, shape, focus, [focus], None, out, depth)
        if not ok and out is None:
            return False
        for prop in shape.properties:
            if not self.property_shape(root, prop, focus, out, depth):
                ok = False
                if out is None:
                    return False
        if shape.closed:
            for predicate, objects in self.graph.out.get(focus, {}).items():
                if predicate in shape.allowed:
                    continue
                ok = False
                if out is None:
                    return False
                for value in objects:
                    out.append(Failure(root, shape, "closed", focus, predicate, value))
        return ok

    def property_shape(
        self, root: Shape, shape: Shape, focus: Any, out: list[Failure] | None, depth: int
    ) -> bool:
        assert shape.path is not None
        values = self.graph.objects(focus, shape.path)
        ok = True
        if shape.min_count is not None and len(values) < shape.min_count:
            ok = False
            if out is None:
                return False
            out.append(Failure(root, shape, "minCount", focus, shape.path, None))
        if shape.max_count is not None and len(values) > shape.max_count:
            ok = False
            if out is None:
                return False
            out.append(Failure(root, shape, "maxCount", focus, shape.path, None))
        if shape.has_value:
            for required in shape.has_value:
                if required not in values:
                    ok = False
                    if out is None:
                        return False
                    out.append(Failure(root, shape, "hasValue", focus, shape.path, required))
        if not self.values(root, shape, focus, values, shape.path, out, depth):
            ok = False
            if out is None:
                return False
        for prop in shape.properties:
            for value in values:
                if not self.property_shape(root, prop, value, out, depth):
                    ok = False
                    if out is None:
                        return False
        return ok

    def values(
        self,
        root: Shape,
        shape: Shape,
        focus: Any,
        values: list[Any],
        path: str | None,
        out: list[Failure] | None,
        depth: int,
    ) -> bool:
        """The value-type, value-range, string and logical constraints, on each value node."""
        ok = True
        for value in values:
            for component in self.value_failures(shape, value, path is None, depth):
                ok = False
                if out is None:
                    return False
                out.append(Failure(root, shape, component, focus, path, value))
        return ok

    def value_failures(self, shape: Shape, value: Any, node_level: bool, depth: int) -> list[str]:
        failed: list[str] = []
        is_literal = isinstance(value, pyoxigraph.Literal)
        if shape.datatype is not None and not (
            is_literal and value.datatype.value == shape.datatype and well_formed(value)
        ):
            failed.append("datatype")
        if shape.node_kind is not None and self.kind(value) not in shape.node_kind:
            failed.append("nodeKind")
        for cls in shape.classes:
            if is_literal or not self.is_instance(value, cls):
                failed.append("class")
                break
        if shape.in_values is not None and value not in shape.in_values:
            failed.append("in")
        if node_level and shape.has_value and value not in shape.has_value:
            failed.append("hasValue")
        if shape.pattern is not None and (
            self.kind(value) == "blank" or shape.pattern.search(str(value.value)) is None
        ):
            failed.append("pattern")
        for component, bound, accept in (
            ("minInclusive", shape.min_inclusive, (0, 1)),
            ("maxInclusive", shape.max_inclusive, (-1, 0)),
            ("minExclusive", shape.min_exclusive, (1,)),
            ("maxExclusive", shape.max_exclusive, (-1,)),
        ):
            if bound is not None and _compare(value, bound) not in accept:
                failed.append(component)
        if shape.min_length is not None or shape.max_length is not None:
            text = None if self.kind(value) == "blank" else str(value.value)
            too_short = shape.min_length is not None and len(text or "") < shape.min_length
            too_long = shape.max_length is not None and len(text or "") > shape.max_length
            if text is None or too_short or too_long:
                failed.append("length")
        deeper = depth + 1
        if any(not self.conforms(member, value, deeper) for member in shape.node):
            failed.append("node")
        for members in shape.or_:
            if not any(self.conforms(member, value, deeper) for member in members):
                failed.append("or")
        for members in shape.and_:
            if not all(self.conforms(member, value, deeper) for member in members):
                failed.append("and")
        for members in shape.xone:
            if sum(1 for member in members if self.conforms(member, value, deeper)) != 1:
                failed.append("xone")
        if any(self.conforms(member, value, deeper) for member in shape.not_):
            failed.append("not")
        return failed


def has_rdf_type(graph: DataGraph, node: Any) -> bool:
    """Whether ``node`` is typed in the graph (used to word sh:class failures)."""
    return bool(graph.objects(node, RDF_TYPE))
