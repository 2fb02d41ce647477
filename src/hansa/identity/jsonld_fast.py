"""A fast path from JSON-LD to an RDF dataset for the plain documents credentials are.

pyld's expansion costs about a millisecond per credential, most of it processing the
same scoped contexts again (its own cache misses them) and walking generic code. Here the
active contexts are still computed by pyld (so every context rule is pyld's), but each
result is kept per loader, and the document is walked once, straight to quads, for a
deliberately small subset of JSON-LD:

- ``@context`` as URLs or inline objects, at the top or on a nested node (a credential
  inside a presentation); type-scoped and property-scoped contexts as pyld applies them;
- node objects whose keys are ``@id``, ``@type`` (or their aliases) or terms that expand
  to absolute IRIs, with no container but ``@set`` and ``@graph``, no ``@reverse``;
- values that are strings, integers, booleans, node objects and arrays of these, typed by
  the term (``@id``, ``@vocab`` or a datatype IRI), without language or direction.

Anything else (another keyword, a value object, a float, null, a blank node label, a
relative IRI, an undefined term, a language-tagged string, an error of any kind) makes
:func:`fast_dataset` return ``None``, and the caller takes the full pyld path, which is
the reference and raises the precise error. So the fast path can only ever be slower
(when it gives up) than pyld, never more lenient; tests compare both on every document.

(pyoxigraph's own JSON-LD parser, fed the contexts inlined, was measured first: it
processes the VC 2.0 context anew on every call, about 0.45 ms, so it is no faster.)
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import weakref
from typing import Any

import pyoxigraph
from pyld import jsonld as pyld_jsonld

from hansa.errors import HansaError

_RDF_TYPE = pyoxigraph.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
_XSD = "http://www.w3.org/2001/XMLSchema#"
_XSD_STRING = pyoxigraph.NamedNode(_XSD + "string")
_XSD_INTEGER = pyoxigraph.NamedNode(_XSD + "integer")
_XSD_BOOLEAN = pyoxigraph.NamedNode(_XSD + "boolean")
_XSD_DOUBLE = _XSD + "double"
# What the memos of one loader may hold, in about characters: keys, ids and contexts from
# documents are remembered, so past this budget every memo starts over (bounded memory).
_BUDGET = 2_000_000
_CONTEXT_COST = 20_000  # one processed context, counted against the budget
_ENTRY_COST = 64  # any other entry, on top of the length of its text
_MAX_ENTRY = 100_000  # larger entries (a huge inline context) are not remembered
_MAX_INTEGER = 10**21  # from here on JSON-LD writes integers as xsd:double
# pyld's test for an absolute IRI (blank node labels, scheme '_', included).
ABSOLUTE_IRI = re.compile(r"^([A-Za-z][A-Za-z0-9+\-.]*|_):[^\s]*$")


class _Unsupported(Exception):
    """The document leaves the subset: take the full pyld path."""


class _Term:
    """What one key means in one active context, ready for the walk."""

    __slots__ = ("coercion", "graph", "key", "kind", "predicate", "term_ctx")

    def __init__(
        self,
        kind: str,
        key: str,
        predicate: Any = None,
        term_ctx: Any = None,
        coercion: Any = None,
        graph: bool = False,
    ) -> None:
        self.kind = kind  # "@id", "@type" or "property"
        self.key = key
        self.predicate = predicate
        self.term_ctx = term_ctx  # the context the key's values are expanded with
        self.coercion = coercion  # None, "@id", "@vocab" or a datatype NamedNode
        self.graph = graph  # an '@graph' container: each value is a graph of its own


class _Compiled:
    """Memos for one pyld active context (which is immutable once pyld returns it)."""

    __slots__ = ("ctx", "embedded", "keys", "nodes", "scoped", "terms")

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx
        self.keys: dict[str, Any] = {}
        self.terms: dict[str, _Term | None] = {}
        self.nodes: dict[tuple[str, bool], Any] = {}
        self.scoped: dict[tuple[int, str], tuple[Any, Any]] = {}
        self.embedded: dict[str, Any] = {}


class _State:
    """Everything memoised for one :class:`~hansa.identity.jsonld.ContextLoader`."""

    def __init__(self, loader: Any, base: str) -> None:
        self.loader = weakref.ref(loader)
        self.base = base
        self.processor = pyld_jsonld.JsonLdProcessor()
        self.roots: dict[Any, Any] = {}
        self.compiled: dict[int, _Compiled] = {}
        self.spent = 0
        self.lock = threading.Lock()

    def remember(self, memo: dict[Any, Any], key: Any, value: Any, size: int) -> None:
        """Keep ``value`` in ``memo`` unless it is too big; over budget, forget everything."""
        if size > _MAX_ENTRY:
            return
        with self.lock:
            self.spent += size + _ENTRY_COST
            if self.spent > _BUDGET:
                self.roots, self.compiled, self.spent = {}, {}, 0
        memo[key] = value

    def loader_(self) -> Any:
        loader = self.loader()
        if loader is None:  # pragma: no cover - the loader owns the state
            raise _Unsupported
        return loader

    def options(self) -> dict[str, Any]:
        return {
            **self.loader_().pyld_options(),
            "base": self.base,
            "isFrame": False,
            "keepFreeFloatingNodes": False,
            "extractAllScripts": False,
            "processingMode": "json-ld-1.1",
        }

    def compiled_for(self, ctx: Any) -> _Compiled:
        entry = self.compiled.get(id(ctx))
        if entry is not None and entry.ctx is ctx:
            return entry
        entry = _Compiled(ctx)
        self.remember(self.compiled, id(ctx), entry, _CONTEXT_COST)
        return entry

    # --- pyld, memoised ------------------------------------------------------------------

    def root(self, context: Any) -> Any:
        """The active context for a document's top-level ``@context`` (URLs or objects)."""
        items = context if isinstance(context, list) else [context]
        if not items or not all(isinstance(item, str | dict) for item in items):
            raise _Unsupported  # no context, a reset (null) or an invalid entry
        # URLs are their own key; inline objects are keyed by their exact JSON text.
        key: Any = tuple(items)
        size = sum(len(item) for item in items if isinstance(item, str))
        if not all(isinstance(item, str) for item in items):
            key = json.dumps(items, ensure_ascii=False, allow_nan=False)
            size = len(key)
        ctx = self.roots.get(key)
        if ctx is None:
            options = self.options()
            initial = self.processor._get_initial_context(options)
            # pyld may rewrite inline contexts in place: it works on a copy.
            own = self.loader_().inline_imports(items)
            ctx = self.processor._process_context(initial, own, options)
            self.remember(self.roots, key, ctx, size + _CONTEXT_COST)
        return ctx

    def scoped(self, ctx: Any, local: Any, mode: str) -> Any:
        """``ctx`` with a term's or type's own context applied, as pyld applies it."""
        compiled = self.compiled_for(ctx)
        key = (id(local), mode)
        hit = compiled.scoped.get(key)
        if hit is not None and hit[0] is local:
            return hit[1]
        options = self.options()
        if mode == "type":
            result = self.processor._process_context(ctx, local, options, propagate=False)
        elif mode == "term":
            result = self.processor._process_context(
                ctx, local, options, propagate=True, override_protected=True
            )
        else:  # "property": a node under a term with its own context
            result = self.processor._process_context(ctx, local, options, override_protected=True)
        self.remember(compiled.scoped, key, (local, result), _CONTEXT_COST)
        return result

    def embedded(self, ctx: Any, local: Any) -> Any:
        """``ctx`` with a node's own ``@context`` (e.g. a credential inside a presentation)."""
        compiled = self.compiled_for(ctx)
        # The document's context objects are new on every call: key them by their JSON.
        key = json.dumps(local, ensure_ascii=False, allow_nan=False)
        result = compiled.embedded.get(key)
        if result is None:
            # pyld may rewrite inline contexts in place: it works on a copy.
            own = self.loader_().inline_imports(local)
            result = self.processor._process_context(ctx, own, self.options())
            self.remember(compiled.embedded, key, result, len(key) + _CONTEXT_COST)
        return result

    def iri(self, ctx: Any, value: str, vocab: bool) -> Any:
        """An id (``vocab`` False) or a type or vocabulary value (True) as a NamedNode.

        Expanded by pyld's rules against ``ctx`` and the base, memoised; anything but an
        absolute IRI that pyoxigraph accepts raises :class:`_Unsupported`.
        """
        compiled = self.compiled_for(ctx)
        key = (value, vocab)
        if key in compiled.nodes:
            node = compiled.nodes[key]
        else:
            node = None
            expanded = self.processor._expand_iri(ctx, value, vocab=vocab, base=self.base)
            if _absolute(expanded, self.base):
                with contextlib.suppress(ValueError):
                    node = pyoxigraph.NamedNode(expanded)
            self.remember(compiled.nodes, key, node, len(value))
        if node is None:
            raise _Unsupported
        return node

    def key_iri(self, ctx: Any, key: str) -> Any:
        """A key expanded as pyld expands keys: against the vocabulary, without a base."""
        compiled = self.compiled_for(ctx)
        if key in compiled.keys:
            return compiled.keys[key]
        expanded = self.processor._expand_iri(ctx, key, vocab=True)
        self.remember(compiled.keys, key, expanded, len(key))
        return expanded

    def term(self, ctx: Any, key: str) -> _Term:
        compiled = self.compiled_for(ctx)
        if key in compiled.terms:
            term = compiled.terms[key]
        else:
            try:
                term = self._compile_term(ctx, key)
            except _Unsupported:
                term = None
            self.remember(compiled.terms, key, term, len(key))
        if term is None:
            raise _Unsupported
        return term

    def _compile_term(self, ctx: Any, key: str) -> _Term:
        if key == "@context":
            raise _Unsupported
        expanded = self.key_iri(ctx, key)
        if expanded in ("@id", "@type"):
            return _Term(expanded, key)
        if not _absolute(expanded, self.base):
            raise _Unsupported  # undefined, a keyword, relative or a blank node
        get = pyld_jsonld.JsonLdProcessor.get_context_value
        local = get(ctx, key, "@context")
        term_ctx = ctx if local is None else self.scoped(ctx, local, "term")
        container = get(ctx, key, "@container")
        containers = set(pyld_jsonld.JsonLdProcessor.arrayify(container or []))
        if not containers <= {"@set", "@graph"} or get(ctx, key, "@type") == "@json":
            raise _Unsupported  # lists, language, index, id and type maps
        for context in (ctx, term_ctx):
            mapping = context["mappings"].get(key)
            if mapping is not None and mapping.get("reverse"):
                raise _Unsupported
        if str(self.key_iri(term_ctx, key)).startswith("@"):
            raise _Unsupported  # the term's own context makes it a keyword
        if get(term_ctx, key, "@language") is not None:
            raise _Unsupported
        if get(term_ctx, key, "@direction") is not None:
            raise _Unsupported
        coercion = get(term_ctx, key, "@type")
        if coercion is not None and coercion not in ("@id", "@vocab"):
            if coercion == _XSD_DOUBLE or not _absolute(coercion, self.base):
                raise _Unsupported  # '@none', '@json', doubles, relative datatypes
            coercion = pyoxigraph.NamedNode(coercion)
        predicate = pyoxigraph.NamedNode(expanded)
        graph = "@graph" in containers
        return _Term("property", key, predicate, term_ctx, coercion, graph)


def _absolute(iri: Any, base: str) -> bool:
    """An absolute IRI that is not a blank node label and was not made from a relative one."""
    return (
        isinstance(iri, str)
        and ABSOLUTE_IRI.match(iri) is not None
        and not iri.startswith(("_:", base))
    )


_states: weakref.WeakKeyDictionary[Any, _State] = weakref.WeakKeyDictionary()
_states_lock = threading.Lock()


def _state(loader: Any, base: str) -> _State:
    state = _states.get(loader)
    if state is None:
        with _states_lock:
            state = _states.get(loader)
            if state is None:
                state = _states[loader] = _State(loader, base)
    if state.base != base:  # memos hold IRIs resolved against the base: never share them
        return _State(loader, base)
    return state


class _Walk:
    """One document turned into quads (named graphs for '@graph' containers)."""

    def __init__(self, state: _State, max_depth: int) -> None:
        self.state = state
        self.max_depth = max_depth
        self.quads: list[Any] = []

    def document(self, document: Any) -> None:
        if not isinstance(document, dict):
            raise _Unsupported
        ctx = self.state.root(document.get("@context"))
        self.node(ctx, document, 1, None)

    def node(self, ctx: Any, element: dict[str, Any], depth: int, graph: Any) -> Any:
        """The subject of a node object, after emitting its quads (pyld's _expand)."""
        if depth > self.max_depth:
            raise _Unsupported
        state = self.state
        # Type-scoped contexts, in the order pyld applies them.
        type_scoped = ctx
        type_key: str | None = None
        type_values: Any = None
        for key in sorted(element):
            if key == "@context":
                continue
            if state.key_iri(ctx, key) == "@type":
                if type_key is not None:
                    raise _Unsupported  # two keys for @type
                type_key, type_values = key, element[key]
                types = type_values if isinstance(type_values, list) else [type_values]
                for type_ in sorted(t for t in types if isinstance(t, str)):
                    local = pyld_jsonld.JsonLdProcessor.get_context_value(
                        type_scoped, type_, "@context"
                    )
                    if local is not None and local is not False:
                        ctx = state.scoped(ctx, local, "type")
        subject: Any = None
        properties: list[tuple[_Term, Any]] = []
        for key, value in element.items():
            if key == "@context":
                continue  # applied by the caller (document or nested)
            term = state.term(ctx, key)
            if (term.kind == "@type") != (key == type_key):
                raise _Unsupported  # a type-scoped context redefined the type key
            if term.kind == "@id":
                if subject is not None or not isinstance(value, str):
                    raise _Unsupported
                subject = state.iri(ctx, value, False)
            elif term.kind == "property":
                properties.append((term, value))
        if subject is None:
            subject = pyoxigraph.BlankNode()
        quads = self.quads
        if type_values is not None:
            for type_ in type_values if isinstance(type_values, list) else [type_values]:
                if not isinstance(type_, str):
                    raise _Unsupported
                type_node = state.iri(type_scoped, type_, True)
                quads.append(_quad(subject, _RDF_TYPE, type_node, graph))
        for term, value in properties:
            for item in value if isinstance(value, list) else [value]:
                if term.graph:
                    # pyld wraps the value in a graph object named by a fresh blank node.
                    if not isinstance(item, dict):
                        raise _Unsupported
                    name = pyoxigraph.BlankNode()
                    self.nested(term, item, depth + 1, name)
                    quads.append(_quad(subject, term.predicate, name, graph))
                else:
                    item_term = self.value(term, item, depth, graph)
                    quads.append(_quad(subject, term.predicate, item_term, graph))
        return subject

    def value(self, term: _Term, item: Any, depth: int, graph: Any) -> Any:
        """The RDF term for one value of a property (pyld's _expand_value, _object_to_rdf)."""
        state, coercion = self.state, term.coercion
        if isinstance(item, str):
            if coercion is None:
                return pyoxigraph.Literal(item, datatype=_XSD_STRING)
            if coercion == "@id":
                return state.iri(term.term_ctx, item, False)
            if coercion == "@vocab":
                return state.iri(term.term_ctx, item, True)
            return pyoxigraph.Literal(item, datatype=coercion)
        if isinstance(item, bool):
            datatype = _XSD_BOOLEAN if coercion is None else coercion
            if not isinstance(datatype, pyoxigraph.NamedNode):
                raise _Unsupported
            return pyoxigraph.Literal("true" if item else "false", datatype=datatype)
        if isinstance(item, int):
            datatype = _XSD_INTEGER if coercion is None else coercion
            if not isinstance(datatype, pyoxigraph.NamedNode) or abs(item) >= _MAX_INTEGER:
                raise _Unsupported
            return pyoxigraph.Literal(str(item), datatype=datatype)
        if isinstance(item, dict):
            return self.nested(term, item, depth + 1, graph)
        raise _Unsupported  # null, floats, nested arrays

    def nested(self, term: _Term, element: dict[str, Any], depth: int, graph: Any) -> Any:
        """A node object under a property: revert and scope contexts as pyld's _expand does."""
        state, term_ctx = self.state, term.term_ctx
        get = pyld_jsonld.JsonLdProcessor.get_context_value
        # The key's own context is looked up again in the term's context, as pyld does.
        local = get(term_ctx, term.key, "@context")
        must_revert = True
        if term_ctx.get("previousContext") and len(element) <= 2 and "@context" not in element:
            for name in sorted(element):
                expanded = state.key_iri(term_ctx, name)
                if expanded == "@value":
                    raise _Unsupported
                if expanded == "@id" and len(element) == 1:
                    must_revert = False
                    break
        ctx = term_ctx
        if must_revert and "previousContext" in ctx:
            ctx = ctx["previousContext"]
        if local is not None:
            ctx = state.scoped(ctx, local, "property")
        if "@context" in element:
            ctx = state.embedded(ctx, element["@context"])
        return self.node(ctx, element, depth, graph)


def _quad(subject: Any, predicate: Any, object_: Any, graph: Any) -> Any:
    # ``graph`` is None for the default graph: pyoxigraph builds a quad of the default
    # graph ten times faster when it is left out than when DefaultGraph() is passed.
    if graph is None:
        return pyoxigraph.Quad(subject, predicate, object_)
    return pyoxigraph.Quad(subject, predicate, object_, graph)


def fast_dataset(document: Any, loader: Any, *, base: str, max_depth: int) -> Any:
    """The dataset of ``document`` through the fast path, or ``None`` to take pyld's.

    ``None`` whenever the document leaves the subset this path knows or anything at all
    goes wrong: the full path then decides, and raises the precise error.
    """
    walk = _Walk(_state(loader, base), max_depth)
    try:
        walk.document(document)
        return pyoxigraph.Dataset(walk.quads)
    except (_Unsupported, pyld_jsonld.JsonLdError, HansaError, ValueError, TypeError):
        return None
    except (KeyError, AttributeError, RecursionError):  # pyld on inputs it does not expect
        return None
