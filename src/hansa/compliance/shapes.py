"""Check Gaia-X credentials against SHACL shapes, fast, and say what to fix where.

``ShapeValidator.builtin()`` uses the shapes Hansa ships (the supported 25.11 types, see
``data/hansa-gx-shapes.ttl``); ``ShapeValidator.official(path)`` loads a whole bundle such as
Gaia-X 25.11's ``gx.shacl.ttl``. Loading compiles the shapes once (~1 s for the official
bundle); :meth:`ShapeValidator.validate` then takes well under a millisecond per credential,
where pyshacl needs ~50 ms per check. Every result is a
:class:`~hansa.compliance.violations.Violation` naming the credential, the JSON pointer of the
field, the rule (``<shape>/<property>``), the rule in words and the fix.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import pyoxigraph

from hansa.compliance.shapes_check import Checker, Failure
from hansa.compliance.shapes_data import DataGraph, GraphBuilder, Place
from hansa.compliance.shapes_model import Shape, ShapesGraph, compile_shapes
from hansa.compliance.violations import Violation
from hansa.errors import BadRequest
from hansa.identity.jsonld import ContextLoader

DATA_DIR = Path(__file__).parent / "data"
BUILTIN_SHAPES = DATA_DIR / "hansa-gx-shapes.ttl"
GX_CLASSES = DATA_DIR / "gx-classes.ttl"
_SHOWN_IN_VALUES = 12  # allowed values listed in a message before "..."
_KNOWN_PREFIXES = {
    "gx": "https://w3id.org/gaia-x/development#",
    "schema": "https://schema.org/",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "vcard": "http://www.w3.org/2006/vcard/ns#",
    "dcat": "http://www.w3.org/ns/dcat#",
    "dcterms": "http://purl.org/dc/terms/",
    "odrl": "http://www.w3.org/ns/odrl/2/",
    "cred": "https://www.w3.org/2018/credentials#",
    "sh": "http://www.w3.org/ns/shacl#",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
}


class ShapeValidator:
    """SHACL shapes compiled once, checked against many submissions."""

    def __init__(
        self,
        shapes_ttl: str,
        *,
        classes_ttl: str | None = None,
        loader: ContextLoader | None = None,
    ) -> None:
        """Compile ``shapes_ttl``; ``classes_ttl`` adds a class hierarchy (default: Gaia-X's).

        Raises ``shapes.invalid`` (does not parse) or ``shapes.unsupported`` (uses SHACL
        features the checker does not implement).
        """
        compiled = compile_shapes(shapes_ttl)
        hierarchy = _gx_classes() if classes_ttl is None else compile_shapes(classes_ttl)
        subclass_of: dict[str, set[str]] = {}
        for source in (hierarchy.subclass_of, compiled.subclass_of):
            for cls, parents in source.items():
                subclass_of.setdefault(cls, set()).update(parents)
        self._compiled = compiled
        self._checker = Checker(compiled.shapes, subclass_of)
        self._builder = GraphBuilder(loader)
        self._prefixes = {**_KNOWN_PREFIXES, **{k: v for k, v in compiled.prefixes.items() if k}}

    @classmethod
    def builtin(cls) -> ShapeValidator:
        """Hansa's own shapes for the supported Gaia-X types (shared, compiled once)."""
        return _builtin()

    @classmethod
    def official(cls, path: Path) -> ShapeValidator:
        """The shapes of a bundle on disk, e.g. Gaia-X 25.11's ``gx.shacl.ttl``."""
        return cls(Path(path).read_text(encoding="utf-8"))

    def known_types(self) -> list[str]:
        """The class IRIs these shapes target."""
        return sorted({target for shape in self._compiled.shapes for target in shape.targets})

    def validate(self, credentials: Sequence[tuple[str, Mapping[str, Any]]]) -> list[Violation]:
        """Every rule the credentials break, checked together (references between them resolve).

        ``credentials`` are (credential id, credential JSON) pairs; an empty list means all
        credentials conform.
        """
        graph, broken = self._builder.build(credentials)
        violations = [
            Violation(
                credential=credential,
                path=error.pointer or "",
                rule=f"jsonld/{error.code}",
                message=error.detail,
                fix="make the credential valid JSON-LD with the contexts Hansa ships",
            )
            for credential, error in broken
        ]
        seen: set[tuple[str, str, str, str]] = set()
        for failure in self._checker.check(graph):
            violation = self._violation(graph, failure)
            key = (violation.credential, violation.path, violation.rule, violation.message)
            if key not in seen:
                seen.add(key)
                violations.append(violation)
        order = {credential: index for index, (credential, _) in enumerate(credentials)}
        violations.sort(key=lambda v: (order.get(v.credential, len(order)), v.path, v.rule))
        return violations

    # --- reporting -------------------------------------------------------------------------

    def compact(self, iri: str) -> str:
        """``gx:legalAddress`` for the full IRI, when a prefix is known."""
        best = ""
        for prefix, namespace in self._prefixes.items():
            if iri.startswith(namespace) and len(namespace) > len(self._prefixes.get(best, "")):
                local = iri[len(namespace) :]
                if local and all(c.isalnum() or c in "_-." for c in local):
                    best = prefix
        return f"{best}:{iri[len(self._prefixes[best]) :]}" if best else iri

    def _term(self, term: Any) -> str:
        if isinstance(term, pyoxigraph.Literal):
            return repr(term.value)
        if isinstance(term, pyoxigraph.NamedNode):
            return self.compact(term.value)
        return str(term)

    def _value(self, graph: DataGraph, value: Any) -> str:
        """A value in words; an object without an id by its type (never a stand-in IRI)."""
        if isinstance(value, pyoxigraph.BlankNode) or value in graph.stand_ins:
            types = sorted(self.compact(t) for t in graph.types.get(value, ()))
            return f"an object of type {', '.join(types)}" if types else "an object without a type"
        return self._term(value)

    def _violation(self, graph: DataGraph, failure: Failure) -> Violation:
        place = graph.places.get(failure.focus)
        credential = place.credential if place is not None else ""
        pointer = self._pointer(graph, place, failure)
        root_name = self.compact(failure.root.key) if failure.root.named else "shape"
        rule = root_name if failure.path is None else f"{root_name}/{self.compact(failure.path)}"
        words, fix = self._words(graph, failure)
        shape = failure.shape
        subject = self.compact(failure.path) if failure.path else self._focus_label(failure)
        label = (
            f"{subject} ({shape.name})" if shape.name and failure.component != "closed" else subject
        )
        message = shape.message or f"{label}: {words}"
        if shape.description and failure.component != "closed" and not shape.message:
            message += f". {shape.description.rstrip('.')}."
        return Violation(credential=credential, path=pointer, rule=rule, message=message, fix=fix)

    def _focus_label(self, failure: Failure) -> str:
        targets = ", ".join(self.compact(t) for t in failure.root.targets)
        return targets or "the node"

    def _pointer(self, graph: DataGraph, place: Place | None, failure: Failure) -> str:
        if place is None:
            return ""
        if failure.path is None:
            return place.pointer
        for key, item in place.obj.items():
            if place.keys.expand(key) != failure.path:
                continue
            base = f"{place.pointer}/{_escape(key)}"
            if failure.value is None or not isinstance(item, list):
                return base
            target = graph.places.get(failure.value)
            if target is not None and target.pointer.startswith(base + "/"):
                return target.pointer
            for index, element in enumerate(item):
                if _same(element, failure.value):
                    return f"{base}/{index}"
            return base
        return f"{place.pointer}/{self.compact(failure.path)}"

    def _words(self, graph: DataGraph, failure: Failure) -> tuple[str, str]:
        """The broken constraint in words, and what to change."""
        shape, component = failure.shape, failure.component
        field = self.compact(failure.path) if failure.path else "the node"
        got = f" (got {self._value(graph, failure.value)})" if failure.value is not None else ""
        if component == "minCount":
            need = shape.min_count
            return (
                f"at least {need} value{'s' if need != 1 else ''} required",
                f"add {field}{_hint(self, shape)}",
            )
        if component == "maxCount":
            return (
                f"at most {shape.max_count} value{'s' if shape.max_count != 1 else ''} allowed",
                f"keep at most {shape.max_count} value(s) of {field}",
            )
        if component == "datatype":
            datatype = self.compact(shape.datatype or "")
            example = (
                f' (in JSON-LD: {{"@value": "...", "@type": "{datatype}"}})'
                if datatype not in ("xsd:string", "xsd:boolean", "xsd:integer")
                else ""
            )
            return (
                f"must be a literal of type {datatype}{got}",
                f"give {field} a valid {datatype}{example}",
            )
        if component == "nodeKind":
            kind = self.compact(shape.node_kind_iri or "")
            wanted = "an object or IRI reference" if "BlankNodeOrIRI" in kind else f"a {kind}"
            return f"must be {wanted}{got}", f"give {field} {wanted}"
        if component == "class":
            classes = " and ".join(self.compact(c) for c in shape.classes)
            return (
                f"must be a node of type {classes}{got}",
                f'make {field} an object with "type": "{classes}" (or the id of such a node '
                "in a credential submitted with this one)",
            )
        if component == "in":
            return f"must be one of the allowed values{got}", f"use one of: {_choices(self, shape)}"
        if component == "hasValue":
            wanted = ", ".join(self._term(v) for v in shape.has_value)
            return f"must include {wanted}", f"add {wanted} to {field}"
        if component == "pattern":
            pattern = shape.pattern.pattern if shape.pattern else ""
            return f"must match the pattern {pattern}{got}", f"write {field} to match {pattern}"
        if component in ("minInclusive", "maxInclusive", "minExclusive", "maxExclusive"):
            bound = getattr(shape, _snake(component))
            relation = {
                "minInclusive": ">=",
                "maxInclusive": "<=",
                "minExclusive": ">",
                "maxExclusive": "<",
            }[component]
            return (
                f"must be {relation} {self._term(bound)}{got}",
                f"give {field} a number {relation} {self._term(bound)}",
            )
        if component == "length":
            return (
                f"length must be between {shape.min_length or 0} and "
                f"{shape.max_length or 'any'}{got}",
                f"shorten or lengthen {field}",
            )
        if component == "closed":
            allowed = ", ".join(sorted(self.compact(p) for p in shape.allowed))
            return (
                f"is not a property of {self._focus_label(failure)}",
                f"remove {field} (allowed: {allowed})",
            )
        if component in ("or", "xone"):
            groups = shape.or_ if component == "or" else shape.xone
            options = "; ".join(_describe(self, member) for group in groups for member in group)
            quantifier = "one of" if component == "or" else "exactly one of"
            return (
                f"must satisfy {quantifier}: {options}{got}",
                f"change {field} to satisfy {quantifier}: {options}",
            )
        if component == "not":
            return (
                f"must not satisfy: {'; '.join(_describe(self, m) for m in shape.not_)}{got}",
                f"change {field}",
            )
        if component == "and":
            options = "; ".join(_describe(self, m) for group in shape.and_ for m in group)
            return f"must satisfy all of: {options}", f"change {field} to satisfy all of: {options}"
        if component == "node":
            names = ", ".join(
                self.compact(m.key) if m.named else "a nested shape" for m in shape.node
            )
            return f"must conform to {names}{got}", f"fix {field} to conform to {names}"
        return f"breaks sh:{component}{got}", f"fix {field}"


def _snake(component: str) -> str:
    return {
        "minInclusive": "min_inclusive",
        "maxInclusive": "max_inclusive",
        "minExclusive": "min_exclusive",
        "maxExclusive": "max_exclusive",
    }[component]


def _hint(validator: ShapeValidator, shape: Shape) -> str:
    if shape.classes:
        return f' (an object with "type": "{validator.compact(shape.classes[0])}")'
    if shape.in_values is not None:
        return f" (one of: {_choices(validator, shape)})"
    if shape.datatype:
        return f" (a {validator.compact(shape.datatype)})"
    return ""


def _choices(validator: ShapeValidator, shape: Shape, limit: int = _SHOWN_IN_VALUES) -> str:
    values = [validator._term(v) for v in shape.in_list]
    shown = ", ".join(values[:limit])
    more = len(values) - limit
    return shown + (f", ... ({more} more)" if more > 0 else "")


def _describe(validator: ShapeValidator, member: Shape) -> str:
    parts: list[str] = []
    if member.classes:
        parts.append("a node of type " + " and ".join(validator.compact(c) for c in member.classes))
    if member.datatype:
        parts.append(f"a {validator.compact(member.datatype)} literal")
    if member.in_values is not None:
        parts.append(f"one of {_choices(validator, member, limit=4)}")
    if member.path:
        parts.append(f"a {validator.compact(member.path)} that conforms")
    return " with ".join(parts) or "a nested shape"


def _same(element: Any, value: Any) -> bool:
    if isinstance(element, dict):
        element = element.get("@value", element.get("id", element.get("@id")))
    if isinstance(element, bool):
        element = "true" if element else "false"
    return (
        isinstance(value, pyoxigraph.Literal | pyoxigraph.NamedNode) and str(element) == value.value
    )


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


@lru_cache(maxsize=1)
def _gx_classes() -> ShapesGraph:
    return compile_shapes(GX_CLASSES.read_text(encoding="utf-8"))


_builtin_lock = threading.Lock()
_builtin_validator: ShapeValidator | None = None


def _builtin() -> ShapeValidator:
    global _builtin_validator
    with _builtin_lock:
        if _builtin_validator is None:
            _builtin_validator = ShapeValidator(BUILTIN_SHAPES.read_text(encoding="utf-8"))
        return _builtin_validator


class ShapeRegistry:
    """The shapes a clearing house checks with: Hansa's built-in ones until a bundle is installed.

    ``directory`` (optional) keeps the installed bundle across restarts as ``shapes.ttl``.
    """

    FILE_NAME = "shapes.ttl"

    def __init__(self, directory: Path | None = None) -> None:
        self._directory = directory
        self._lock = threading.Lock()
        self._validator: ShapeValidator | None = None
        self._source = "builtin"

    @property
    def source(self) -> str:
        """``builtin`` or ``installed``."""
        self.validator()
        return self._source

    def validator(self) -> ShapeValidator:
        """The active validator (the installed bundle if there is one, else the built-in)."""
        with self._lock:
            if self._validator is None:
                stored = self._directory / self.FILE_NAME if self._directory else None
                if stored is not None and stored.is_file():
                    self._validator = ShapeValidator(stored.read_text(encoding="utf-8"))
                    self._source = "installed"
                else:
                    self._validator = ShapeValidator.builtin()
            return self._validator

    def install(self, ttl_text: str) -> ShapeValidator:
        """Compile and activate a bundle; ``shapes.invalid``/``shapes.unsupported`` if it cannot."""
        validator = ShapeValidator(ttl_text)
        if not validator.known_types():
            raise BadRequest(
                "the shapes target no class (no sh:targetClass): nothing would be checked",
                code="shapes.empty",
            )
        with self._lock:
            if self._directory is not None:
                self._directory.mkdir(parents=True, exist_ok=True)
                path = self._directory / self.FILE_NAME
                temporary = path.with_suffix(".tmp")
                temporary.write_text(ttl_text, encoding="utf-8")
                temporary.replace(path)
            self._validator = validator
            self._source = "installed"
        return validator

    def reset(self) -> None:
        """Go back to the built-in shapes (and forget the installed bundle)."""
        with self._lock:
            if self._directory is not None:
                (self._directory / self.FILE_NAME).unlink(missing_ok=True)
            self._validator = ShapeValidator.builtin()
            self._source = "builtin"
