"""JSON-LD without the network: a strict context loader, expansion, N-Quads, RDFC-1.0.

Every ``@context`` URL is served from a copy shipped with Hansa (pyld's frozen W3C
contexts plus ``hansa/identity/contexts/``); an unknown URL is an error, never a fetch.
The loader is handed to pyld on every call (never installed as pyld's global default,
which any other import could replace), and pyld gets a context cache of ours, so a
context resolved elsewhere with another loader can never leak into our results.

Processing is strict in the way Data Integrity requires: a property that the context
does not define, or a type or id that stays a relative IRI, is an error instead of being
silently dropped from the signed RDF.

Canonicalization: pyld turns JSON-LD into RDF (it has the contexts), pyoxigraph runs
RDFC-1.0 on it (byte-identical to pyld's URDNA2015, about three times faster). Plain
documents, which most credentials and presentations are, skip pyld's expansion through
:mod:`hansa.identity.jsonld_fast` (same RDF, contexts still processed by pyld, about ten
times faster); anything it does not handle or would refuse comes back here.
"""

from __future__ import annotations

import copy
import json
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pyoxigraph
from pyld import jsonld as pyld_jsonld
from pyld.context_resolver import ContextResolver
from pyld.documentloader.frozen import BUNDLED_CONTEXTS

from hansa.errors import BadRequest, HansaError
from hansa.identity.jsonld_fast import ABSOLUTE_IRI, fast_dataset
from hansa.identity.jsonld_import import inline_document_imports, inline_imports

CONTEXTS_DIR = Path(__file__).parent / "contexts"

# URL -> file in CONTEXTS_DIR (the README of the spec copies names the source of each).
HANSA_CONTEXTS: Mapping[str, str] = {
    "https://www.w3.org/2018/credentials/v1": "credentials-v1.jsonld",
    "https://www.w3.org/ns/credentials/v2": "credentials-v2.jsonld",
    "https://w3id.org/security/data-integrity/v2": "data-integrity-v2.jsonld",
    "https://w3id.org/security/multikey/v1": "multikey-v1.jsonld",
    "https://www.w3.org/ns/did/v1": "did-v1.jsonld",
    "https://w3id.org/security/suites/ed25519-2020/v1": "ed25519-signature-2020-v1.jsonld",
    "https://w3id.org/security/suites/jws-2020/v1": "jws-2020-v1.jsonld",
    "https://w3id.org/dspace/2025/1/context.jsonld": "dspace-2025-1.jsonld",
    "https://w3id.org/dspace/2025/1/odrl-profile.jsonld": "dspace-2025-1-odrl-profile.jsonld",
    "https://w3id.org/dspace-dcp/v1.0/dcp.jsonld": "dcp-1.0.jsonld",
    # Gaia-X credentials name the gx context by its namespace IRI, with the '#'.
    "https://w3id.org/gaia-x/development#": "gaia-x-development.jsonld",
    "https://w3id.org/gaia-x/development": "gaia-x-development.jsonld",
    # Gaia-X 22.10 credentials (read by hansa.compliance.migrate); only its prefixes matter.
    "https://registry.lab.gaia-x.eu/development/api/trusted-shape-registry/v1/shapes/jsonld/"
    "trustframework#": "gaia-x-trustframework-2210.jsonld",
}

MAX_DEPTH = 64  # nesting of JSON objects/arrays accepted in a document
_RESOLVED_CACHE_SIZE = 256
# pyld resolves relative ids and types against a base, and against an example.org base
# when there is none; with this base (RFC 2606 '.invalid') a relative IRI is recognisable.
RELATIVE_BASE = "https://relative-iri.invalid/"


def bundled_contexts() -> dict[str, Path]:
    """Every context URL Hansa serves, with the file it comes from.

    pyld's frozen copies win where both exist (they are identical today; pyld's are
    the maintained ones).
    """
    sources = {url: CONTEXTS_DIR / name for url, name in HANSA_CONTEXTS.items()}
    sources.update({url: Path(path) for url, path in BUNDLED_CONTEXTS.items()})
    return sources


class _LockedLru:
    """The small mapping pyld's ContextResolver uses as its shared cache, thread-safe and bounded.

    Bounded because inline (object) contexts are cached too, keyed by their JSON, and those
    come from callers' documents.
    """

    def __init__(self, maxsize: int) -> None:
        self._data: OrderedDict[str, Any] = OrderedDict()
        self._maxsize = maxsize
        self._lock = threading.Lock()

    def get(self, key: str, default: Any = None) -> Any:
        with self._lock:
            if key not in self._data:
                return default
            self._data.move_to_end(key)
            return self._data[key]

    def __getitem__(self, key: str) -> Any:
        with self._lock:
            return self._data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self._maxsize:
                self._data.popitem(last=False)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._data


class ContextLoader:
    """A pyld document loader that serves only bundled contexts and never fetches.

    ``extra`` adds contexts (URL -> parsed JSON-LD document), e.g. a federation's own
    vocabulary or a test context; they may not replace a bundled URL.
    """

    def __init__(self, extra: Mapping[str, dict[str, Any]] | None = None) -> None:
        self._sources: dict[str, Path | dict[str, Any]] = dict(bundled_contexts())
        for url, document in (extra or {}).items():
            if url in self._sources:
                raise ValueError(f"context {url} is bundled already and cannot be replaced")
            if not isinstance(document, dict):
                raise ValueError(f"context {url} must be a JSON object")
            self._sources[url] = copy.deepcopy(document)
        self._parsed: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._resolved = _LockedLru(_RESOLVED_CACHE_SIZE)

    def known_urls(self) -> list[str]:
        """The context URLs this loader serves."""
        return sorted(self._sources)

    def document(self, url: str) -> dict[str, Any]:
        """The parsed context for ``url`` (a private copy); ``jsonld.unknown_context`` if none.

        Its ``@import``-s are merged in already (see :mod:`hansa.identity.jsonld_import`).
        """
        with self._lock:
            parsed = self._parsed.get(url)
        if parsed is None:
            parsed = self._source(url)
            if "@context" in parsed:
                parsed["@context"] = inline_imports(parsed["@context"], self._source)
            with self._lock:
                parsed = self._parsed.setdefault(url, parsed)
        # pyld rewrites relative URLs inside a context in place: hand out a copy.
        return copy.deepcopy(parsed)

    def _source(self, url: str) -> dict[str, Any]:
        """A fresh copy of the context document for ``url``, as shipped."""
        source = self._sources.get(url)
        if source is None:
            raise BadRequest(
                f"unknown JSON-LD context {url!r}: Hansa never fetches contexts and "
                "ships no copy of this one; use a known context or inline it",
                code="jsonld.unknown_context",
                pointer="/@context",
                url=url,
            )
        if isinstance(source, Path):
            parsed: dict[str, Any] = json.loads(source.read_text(encoding="utf-8"))
            return parsed
        return copy.deepcopy(source)

    def inline_imports(self, context: Any) -> Any:
        """A deep copy of a ``@context`` value with its ``@import``-s merged in."""
        return inline_imports(copy.deepcopy(context), self.document)

    def __call__(self, url: str, options: dict[str, Any] | None = None) -> dict[str, Any]:
        """pyld's loader interface: a RemoteDocument for ``url``."""
        return {
            "contentType": "application/ld+json",
            "contextUrl": None,
            "documentUrl": url,
            "document": self.document(url),
            # 'static' lets pyld keep the resolved context in our shared cache.
            "tag": "static",
        }

    def pyld_options(self) -> dict[str, Any]:
        """Options for one pyld call: this loader and a resolver over this loader's cache."""
        return {
            "documentLoader": self,
            "contextResolver": ContextResolver(self._resolved, self),
        }


_default_loader: ContextLoader | None = None
_default_lock = threading.Lock()


def default_loader() -> ContextLoader:
    """The process-wide loader over the bundled contexts (created once, then shared)."""
    global _default_loader
    with _default_lock:
        if _default_loader is None:
            _default_loader = ContextLoader()
        return _default_loader


# --- input checks ------------------------------------------------------------------------


def _check_context_value(value: Any, pointer: str) -> None:
    items = value if isinstance(value, list) else [value]
    for index, item in enumerate(items):
        if item is None or isinstance(item, str | dict):
            continue
        where = f"{pointer}/{index}" if isinstance(value, list) else pointer
        raise BadRequest(
            f"@context entries must be URLs (strings), objects or null, not {type(item).__name__}",
            code="jsonld.invalid_context",
            pointer=where,
        )


def _check_input(document: Any) -> None:
    """Shape and depth of the input, before pyld sees it (pyld recurses without a limit)."""
    if not isinstance(document, dict | list):
        raise BadRequest(
            "a JSON-LD document must be a JSON object or array", code="jsonld.invalid_document"
        )
    stack: list[tuple[Any, str, int]] = [(document, "", 0)]
    while stack:
        value, pointer, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise BadRequest(
                f"the document nests deeper than {MAX_DEPTH} levels",
                code="jsonld.too_deep",
                pointer=pointer,
            )
        if isinstance(value, dict):
            for key, child in value.items():
                child_pointer = f"{pointer}/{_escape(str(key))}"
                if key == "@context":
                    _check_context_value(child, child_pointer)
                stack.append((child, child_pointer, depth + 1))
        elif isinstance(value, list):
            stack.extend((child, f"{pointer}/{i}", depth + 1) for i, child in enumerate(value))


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _is_absolute(iri: Any) -> bool:
    return (
        isinstance(iri, str)
        and ABSOLUTE_IRI.match(iri) is not None
        and not iri.startswith(RELATIVE_BASE)
    )


def _written(iri: str) -> str:
    return iri.removeprefix(RELATIVE_BASE)


def _walk_expanded(value: Any) -> Iterator[dict[str, Any]]:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            yield item
            for key, child in item.items():
                if key not in ("@value", "@context"):
                    stack.append(child)


def _check_expanded(expanded: list[Any]) -> None:
    """Refuse what to-RDF would silently drop: relative ids and types."""
    for node in _walk_expanded(expanded):
        if "@value" in node:
            datatype = node.get("@type")
            if datatype is not None and datatype != "@json" and not _is_absolute(datatype):
                raise BadRequest(
                    f"value type {_written(datatype)!r} is not defined by the @context",
                    code="jsonld.undefined_term",
                )
            continue
        node_id = node.get("@id")
        if node_id is not None and not _is_absolute(node_id):
            raise BadRequest(
                f"id {_written(node_id)!r} is a relative IRI; use an absolute one (URL, DID, urn:)",
                code="jsonld.relative_iri",
            )
        types = node.get("@type", [])
        for type_ in types if isinstance(types, list) else [types]:
            if not _is_absolute(type_):
                raise BadRequest(
                    f"type {_written(str(type_))!r} is not defined by the @context",
                    code="jsonld.undefined_term",
                )


def _property_dropped(expanded_property: str | None) -> None:
    name = f" {expanded_property!r}" if expanded_property else ""
    raise BadRequest(
        f"property{name} is not defined by the @context; an undefined term would be "
        "left out of the signed data, so it is refused",
        code="jsonld.undefined_term",
        term=expanded_property,
    )


def _hansa_cause(exc: BaseException) -> HansaError | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, HansaError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _translate(exc: pyld_jsonld.JsonLdError) -> HansaError:
    """A pyld error as a Hansa error; ours (unknown context, undefined term) pass through."""
    ours = _hansa_cause(exc)
    if ours is not None:
        return ours
    innermost: BaseException = exc
    while isinstance(innermost.__cause__, pyld_jsonld.JsonLdError):
        innermost = innermost.__cause__
    code = getattr(innermost, "code", None) or "invalid"
    message = innermost.args[0] if innermost.args else str(innermost)
    details = getattr(innermost, "details", None)
    if code in ("context overflow", "recursive context inclusion"):
        return BadRequest(
            f"@context inclusion loops or nests too deep: {message}",
            code="jsonld.context_loop",
            pointer="/@context",
        )
    return BadRequest(
        f"invalid JSON-LD ({code}): {message}" + (f" ({details})" if details else ""),
        code="jsonld.invalid",
    )


# --- operations ----------------------------------------------------------------------------


def expand(document: Any, *, loader: ContextLoader | None = None) -> list[Any]:
    """Expand a JSON-LD document strictly (unknown context, undefined term: errors)."""
    _check_input(document)
    loader = loader or default_loader()
    processor = pyld_jsonld.JsonLdProcessor(on_property_dropped=_property_dropped)
    options = {**loader.pyld_options(), "base": RELATIVE_BASE}
    own = copy.deepcopy(document)
    try:
        inline_document_imports(own, loader.document)
        expanded: list[Any] = processor.expand(own, options)
    except pyld_jsonld.JsonLdError as exc:
        raise _translate(exc) from exc
    except RecursionError as exc:
        raise BadRequest("the document nests too deep", code="jsonld.too_deep") from exc
    _check_expanded(expanded)
    return expanded


_RDF_LANG_STRING = "http://www.w3.org/1999/02/22-rdf-syntax-ns#langString"
_XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"


def _term(term: dict[str, Any]) -> Any:
    kind, value = term["type"], term["value"]
    if kind == "IRI":
        return pyoxigraph.NamedNode(value)
    if kind == "blank node":
        return pyoxigraph.BlankNode(value.removeprefix("_:"))
    datatype = str(term.get("datatype") or _XSD_STRING)
    if term.get("language") is not None and datatype == _RDF_LANG_STRING:
        return pyoxigraph.Literal(value, language=term["language"])
    return pyoxigraph.Literal(value, datatype=pyoxigraph.NamedNode(datatype))


def _graph_name(name: str) -> Any:
    if name == "@default":
        return pyoxigraph.DefaultGraph()
    if name.startswith("_:"):
        return pyoxigraph.BlankNode(name.removeprefix("_:"))
    return pyoxigraph.NamedNode(name)


def to_dataset(document: Any, *, loader: ContextLoader | None = None) -> Any:
    """The RDF dataset of a JSON-LD document as a :class:`pyoxigraph.Dataset`.

    Quads are built term by term (never by parsing N-Quads text that pyld wrote), so an
    IRI or language tag with characters N-Quads cannot hold is an error here rather
    than a way to smuggle extra quads into the signed form.

    Plain documents (most credentials) take :mod:`hansa.identity.jsonld_fast`, which gives
    the same dataset; whatever it does not handle, or refuses, goes through pyld here.
    """
    loader = loader or default_loader()
    dataset = fast_dataset(document, loader, base=RELATIVE_BASE, max_depth=MAX_DEPTH)
    if dataset is not None:
        return dataset
    return pyld_dataset(document, loader=loader)


def pyld_dataset(document: Any, *, loader: ContextLoader | None = None) -> Any:
    """:func:`to_dataset` through pyld only: the reference the fast path is tested against."""
    loader = loader or default_loader()
    expanded = expand(document, loader=loader)
    processor = pyld_jsonld.JsonLdProcessor(on_property_dropped=_property_dropped)
    options = {**loader.pyld_options(), "base": RELATIVE_BASE}
    try:
        rdf: dict[str, list[dict[str, Any]]] = processor.to_rdf(expanded, options)
    except pyld_jsonld.JsonLdError as exc:
        raise _translate(exc) from exc
    dataset = pyoxigraph.Dataset()
    try:
        for name, triples in rdf.items():
            graph = _graph_name(name)
            for triple in triples:
                dataset.add(
                    pyoxigraph.Quad(
                        _term(triple["subject"]),
                        _term(triple["predicate"]),
                        _term(triple["object"]),
                        graph,
                    )
                )
    except (ValueError, TypeError) as exc:
        raise BadRequest(
            f"the document does not map to valid RDF: {exc}", code="jsonld.invalid_rdf"
        ) from exc
    return dataset


def _nquads(dataset: Any) -> str:
    # Canonical N-Quads: one quad per line in code point order, each ending in '\n'.
    return "".join(sorted(f"{quad} .\n" for quad in dataset))


def to_nquads(document: Any, *, loader: ContextLoader | None = None) -> str:
    """The RDF dataset of a JSON-LD document as sorted N-Quads (blank nodes not canonical)."""
    return _nquads(to_dataset(document, loader=loader))


def canonicalize(document: Any, *, loader: ContextLoader | None = None) -> str:
    """RDFC-1.0 canonical N-Quads of a JSON-LD document, as Data Integrity signs them."""
    dataset = to_dataset(document, loader=loader)
    dataset.canonicalize(pyoxigraph.CanonicalizationAlgorithm.RDFC_1_0)
    return _nquads(dataset)
