"""did:web resolution over the guarded HTTP client, a resolver for every method Hansa knows,
and W3C DID Resolution results (for ``GET /1.0/identifiers/{did}``).

Caching: a resolved document is kept for ``ttl_seconds``. Answers that say the DID does
not exist or has a broken document (``did.not_found``, ``did.invalid_document``,
``did.too_large``) are kept for ``negative_ttl_seconds`` (short): that stops a flood of
credentials naming a bad DID from turning into a flood of outbound fetches, while a fixed
document is seen again soon. Transient failures (unreachable, timeout, TLS) are not cached,
so the next verification retries. Concurrent misses for the same DID may fetch twice; that
is harmless and keeps one slow host from blocking others behind a lock.

Resolved documents are shared, read-only values (:func:`hansa.identity.frozen.freeze`): every
verification reads the cached document itself, and a caller that wants to change one changes
a ``copy.deepcopy`` of it. (Copying the document for every caller cost ~65 µs per resolution,
more than checking the signature it served.)
"""

from __future__ import annotations

import ipaddress
import re
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from hansa.errors import (
    BadRequest,
    Forbidden,
    HansaError,
    NotFound,
    UpstreamError,
    UpstreamUnavailable,
)
from hansa.fetch import GuardedClient
from hansa.identity.did import (
    RELATIONSHIPS,
    DidDocument,
    DidResolver,
    did_method,
    did_web_to_url,
    resolve_did_key,
    split_did_url,
)
from hansa.identity.frozen import freeze

DID_RESOLUTION_CONTEXT = "https://w3id.org/did-resolution/v1"
DID_JSON = "application/did+json"
DID_LD_JSON = "application/did+ld+json"
ACCEPT = f"{DID_JSON}, {DID_LD_JSON};q=0.9, application/json;q=0.8"

MAX_ENTRIES_PER_LIST = 100
"""Most verification methods / services / relationship entries a document may list."""

NEGATIVE_CODES = frozenset({"did.not_found", "did.invalid_document", "did.too_large"})

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$", re.IGNORECASE)


# --- names -----------------------------------------------------------------------------------


def did_web_document_url(did: str) -> str:
    """The URL of a did:web's document, after refusing IP-literal and malformed host names."""
    url = did_web_to_url(did)
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        parts.port  # noqa: B018 -- validates the percent-encoded port
    except ValueError as exc:
        raise BadRequest(f"{did!r} has an invalid port", code="did.invalid") from exc
    if _is_ip_literal(host):
        raise Forbidden(
            f"{did} names the IP address {host}; did:web needs a domain name (DID documents "
            "are trusted through the TLS certificate of a name)",
            code="did.forbidden_target",
            host=host,
        )
    labels = host.rstrip(".").split(".")
    if len(host) > 253 or not all(_LABEL.match(label) for label in labels):
        raise BadRequest(f"{did!r}: {host!r} is not a valid domain name", code="did.invalid")
    return url


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    try:
        # inet_aton also accepts the forms getaddrinfo would: 127.1, 2130706433, 0x7f.0.0.1.
        socket.inet_aton(host)
        return True
    except OSError:
        pass
    # No top-level domain is numeric, so such a name can only be an address in disguise.
    return host.rstrip(".").rsplit(".", 1)[-1].isdigit()


# --- documents -------------------------------------------------------------------------------


def _invalid(did: str, message: str, pointer: str | None = None) -> UpstreamError:
    return UpstreamError(
        f"the DID document of {did} is not valid: {message}",
        code="did.invalid_document",
        pointer=pointer,
    )


def _check_list(did: str, document: DidDocument, name: str) -> list[Any]:
    value = document.get(name, [])
    if not isinstance(value, list):
        raise _invalid(did, f"{name} must be a list", f"/{name}")
    if len(value) > MAX_ENTRIES_PER_LIST:
        raise _invalid(did, f"{name} has more than {MAX_ENTRIES_PER_LIST} entries", f"/{name}")
    return value


def check_did_document(did: str, document: Any) -> DidDocument:
    """Check the shape of a fetched DID document for ``did`` (DID Core, JSON representation)."""
    if not isinstance(document, dict):
        raise _invalid(did, "it is not a JSON object")
    if document.get("id") != did:
        raise _invalid(did, f"its id is {document.get('id')!r}, not the DID", "/id")
    context = document.get("@context")
    if context is not None and not isinstance(context, str | list):
        raise _invalid(did, "@context must be a string or a list", "/@context")
    controller = document.get("controller")
    if controller is not None and not (
        isinstance(controller, str)
        or (isinstance(controller, list) and all(isinstance(c, str) for c in controller))
    ):
        raise _invalid(did, "controller must be a DID or a list of DIDs", "/controller")
    for index, method in enumerate(_check_list(did, document, "verificationMethod")):
        _check_method(did, method, f"/verificationMethod/{index}")
    for relationship in RELATIONSHIPS:
        for index, entry in enumerate(_check_list(did, document, relationship)):
            pointer = f"/{relationship}/{index}"
            if isinstance(entry, dict):
                _check_method(did, entry, pointer)
            elif not isinstance(entry, str):
                raise _invalid(did, "must be a key id or an embedded method", pointer)
    for index, service in enumerate(_check_list(did, document, "service")):
        pointer = f"/service/{index}"
        if not (
            isinstance(service, dict)
            and isinstance(service.get("id"), str)
            and isinstance(service.get("type"), str | list)
            and "serviceEndpoint" in service
        ):
            raise _invalid(did, "a service needs id, type and serviceEndpoint", pointer)
    aka = document.get("alsoKnownAs", [])
    if not isinstance(aka, list) or not all(isinstance(a, str) for a in aka):
        raise _invalid(did, "alsoKnownAs must be a list of URIs", "/alsoKnownAs")
    return document


def _check_method(did: str, method: Any, pointer: str) -> None:
    if not isinstance(method, dict):
        raise _invalid(did, "a verification method must be an object", pointer)
    if not isinstance(method.get("id"), str) or not isinstance(method.get("type"), str):
        raise _invalid(did, "a verification method needs string id and type", pointer)
    if "controller" in method and not isinstance(method["controller"], str):
        raise _invalid(did, "a verification method's controller must be a DID", pointer)
    if "publicKeyJwk" in method and not isinstance(method["publicKeyJwk"], dict):
        raise _invalid(did, "publicKeyJwk must be an object", f"{pointer}/publicKeyJwk")


# --- fetch errors -> did errors --------------------------------------------------------------


def _did_error(did: str, url: str, exc: HansaError) -> HansaError:
    """The ``did.*`` error for a ``net.*`` failure while fetching ``did``'s document."""
    detail = f"cannot resolve {did} ({url}): {exc.detail}"
    extra = {k: v for k, v in exc.extra.items() if k in {"host", "address", "setting", "kind"}}
    code = exc.code
    if code in {"net.forbidden_target", "net.insecure_scheme", "net.invalid_url"}:
        return Forbidden(detail, code="did.forbidden_target", **extra)
    if code == "net.http_status":
        status = exc.extra.get("upstream_status")
        if status in {404, 410}:
            return NotFound(
                f"{did} has no DID document: {url} answered HTTP {status}", code="did.not_found"
            )
        return UpstreamError(detail, code="did.unreachable", upstream_status=status)
    if code == "net.redirect_refused":
        return UpstreamError(detail, code="did.redirect_refused", reason=exc.extra.get("reason"))
    if code == "net.too_large":
        return UpstreamError(detail, code="did.too_large")
    if code == "net.invalid_json":
        return _invalid(did, "it is not JSON")
    if isinstance(exc, UpstreamUnavailable):
        return UpstreamUnavailable(detail, code="did.unreachable", status=exc.status_code)
    if isinstance(exc, UpstreamError):
        return UpstreamError(detail, code="did.unreachable", reason=code)
    return exc


def _copy_error(exc: HansaError) -> HansaError:
    """A fresh exception equal to ``exc``, so cached errors are never re-raised (shared) twice."""
    return type(exc)(
        exc.detail,
        code=exc.code,
        pointer=exc.pointer,
        status=exc.status_code,
        errors=exc.errors,
        **exc.extra,
    )


@dataclass(frozen=True)
class _Entry:
    expires: float
    document: DidDocument | None = None
    error: HansaError | None = None


class DidWebResolver:
    """Resolves did:web DIDs over a :class:`GuardedClient`, with a TTL cache (thread-safe)."""

    def __init__(
        self,
        client: GuardedClient,
        ttl_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        *,
        negative_ttl_seconds: float = 30.0,
        max_document_bytes: int | None = 256 * 1024,
        max_entries: int = 10_000,
    ) -> None:
        self._client = client
        self._ttl = ttl_seconds
        self._negative_ttl = min(negative_ttl_seconds, ttl_seconds)
        self._clock = clock
        self._max_bytes = max_document_bytes
        self._max_entries = max_entries
        self._cache: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def resolve(self, did: str) -> DidDocument:
        """The DID document of ``did`` (shared and read-only), or a ``did.*`` error."""
        did = split_did_url(did)[0]
        # Only a DID whose name passed did_web_document_url gets into the cache, so a hit
        # needs no second look at the name.
        entry = self._cached(did)
        if entry is None:
            return self._fetch(did, did_web_document_url(did))
        if entry.error is not None:
            raise _copy_error(entry.error)
        assert entry.document is not None
        return entry.document

    def invalidate(self, did: str | None = None) -> None:
        """Forget one cached DID, or all of them."""
        with self._lock:
            if did is None:
                self._cache.clear()
            else:
                self._cache.pop(split_did_url(did)[0], None)

    def _cached(self, did: str) -> _Entry | None:
        with self._lock:
            entry = self._cache.get(did)
            if entry is None:
                return None
            if entry.expires <= self._clock():
                del self._cache[did]
                return None
            self._cache.move_to_end(did)
            return entry

    def _store(self, did: str, entry: _Entry) -> None:
        with self._lock:
            self._cache[did] = entry
            self._cache.move_to_end(did)
            while len(self._cache) > self._max_entries:
                self._cache.popitem(last=False)

    def _fetch(self, did: str, url: str) -> DidDocument:
        try:
            document = self._download(did, url)
        except HansaError as exc:
            if exc.code in NEGATIVE_CODES and self._negative_ttl > 0:
                self._store(did, _Entry(self._clock() + self._negative_ttl, error=exc))
            raise
        self._store(did, _Entry(self._clock() + self._ttl, document=document))
        return document

    def _download(self, did: str, url: str) -> DidDocument:
        try:
            response = self._client.get_bytes(url, accept=ACCEPT, max_bytes=self._max_bytes)
            data = response.json()
        except HansaError as exc:
            raise _did_error(did, url, exc) from exc
        document: DidDocument = freeze(check_did_document(did, data))
        return document


class UniversalResolver:
    """Resolves every DID method Hansa supports: did:key (offline) and did:web (fetched).

    ``local`` documents (the node's own DIDs, a demo federation's) are answered first, so a
    node never fetches itself over HTTPS.
    """

    def __init__(
        self, web: DidWebResolver | None, local: Mapping[str, DidDocument] | None = None
    ) -> None:
        self._web = web
        self._local: dict[str, DidDocument] = {
            did: freeze(document) for did, document in (local or {}).items()
        }
        self._lock = threading.Lock()

    def add_local(self, document: DidDocument) -> None:
        """Answer ``document['id']`` with (a read-only copy of) ``document`` from now on."""
        frozen: DidDocument = freeze(document)
        with self._lock:
            self._local[document["id"]] = frozen

    def resolve(self, did: str) -> DidDocument:
        """The DID document of ``did``; ``did.unsupported_method`` for unknown methods."""
        did = split_did_url(did)[0]
        method = did_method(did)
        with self._lock:
            local = self._local.get(did)
        if local is not None:
            return local
        if method == "key":
            try:
                return resolve_did_key(did)
            except BadRequest as exc:
                raise BadRequest(
                    f"{did} is not a valid did:key: {exc.detail}", code="did.invalid"
                ) from exc
        if method == "web" and self._web is not None:
            return self._web.resolve(did)
        supported = "did:key, did:web" if self._web is not None else "did:key"
        raise BadRequest(
            f"DID method {method!r} is not supported (this node resolves {supported})",
            code="did.unsupported_method",
        )


# --- DID Resolution results ------------------------------------------------------------------

RESOLUTION_ERRORS = {
    "did.invalid": "invalidDid",
    "did.unsupported_method": "methodNotSupported",
    "did.not_found": "notFound",
    "did.invalid_document": "invalidDidDocument",
    # Not in the DID Resolution registry: the resolver refused to fetch (SSRF guard).
    "did.forbidden_target": "forbiddenTarget",
}


def resolution_result(did: str, resolver: DidResolver) -> dict[str, Any]:
    """A W3C DID Resolution result for ``did``: the document, or an error in the metadata.

    ``didResolutionMetadata.error`` is ``invalidDid``, ``methodNotSupported``, ``notFound``,
    ``invalidDidDocument``, ``forbiddenTarget`` or ``internalError`` (unreachable hosts and
    other failures); ``errorMessage`` and ``code`` (Hansa's error code) say more.
    """
    try:
        document = resolver.resolve(did)
    except HansaError as exc:
        return {
            "@context": DID_RESOLUTION_CONTEXT,
            "didDocument": None,
            "didResolutionMetadata": {
                "error": RESOLUTION_ERRORS.get(exc.code, "internalError"),
                "errorMessage": exc.detail,
                "code": exc.code,
            },
            "didDocumentMetadata": {},
        }
    return {
        "@context": DID_RESOLUTION_CONTEXT,
        "didDocument": document,
        "didResolutionMetadata": {
            "contentType": DID_LD_JSON if "@context" in document else DID_JSON
        },
        "didDocumentMetadata": {},
    }
