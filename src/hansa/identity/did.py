"""DIDs: did:key and did:web names, DID documents, and finding a verification key in one.

Remote did:web resolution (over the guarded HTTP client, with a cache) lives in
:mod:`hansa.identity.did_web`; this module is pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, Protocol
from urllib.parse import quote, unquote, urlsplit

from hansa.errors import BadRequest, Forbidden
from hansa.identity.keys import (
    PrivateKey,
    PublicKey,
    multikey_decode,
    multikey_encode,
    public_jwk,
    public_key_from_jwk,
)

DidDocument = dict[str, Any]
Relationship = Literal[
    "authentication",
    "assertionMethod",
    "keyAgreement",
    "capabilityInvocation",
    "capabilityDelegation",
]
RELATIONSHIPS: tuple[Relationship, ...] = (
    "authentication",
    "assertionMethod",
    "keyAgreement",
    "capabilityInvocation",
    "capabilityDelegation",
)

DID_CONTEXT = "https://www.w3.org/ns/did/v1"
MULTIKEY_CONTEXT = "https://w3id.org/security/multikey/v1"
JWS2020_CONTEXT = "https://w3id.org/security/suites/jws-2020/v1"


class DidResolver(Protocol):
    """Anything that turns a DID into its DID document."""

    def resolve(self, did: str) -> DidDocument:
        """Return the DID document, or raise a ``did.*`` HansaError."""
        ...


def split_did_url(did_url: str) -> tuple[str, str | None]:
    """``did:web:x#key-1`` -> (``did:web:x``, ``key-1``)."""
    did, _, fragment = did_url.partition("#")
    return did, fragment or None


def did_method(did: str) -> str:
    parts = did.split(":")
    if len(parts) < 3 or parts[0] != "did" or not parts[1] or not parts[2]:
        raise BadRequest(f"{did!r} is not a DID (did:<method>:<id>)", code="did.invalid")
    return parts[1]


# --- did:key -------------------------------------------------------------------------


def did_key_from_key(key: PrivateKey | PublicKey) -> str:
    return "did:key:" + multikey_encode(key)


def resolve_did_key(did: str) -> DidDocument:
    """Expand a did:key into its DID document (one Multikey in every signing relationship)."""
    if not did.startswith("did:key:"):
        raise BadRequest(f"{did!r} is not a did:key", code="did.invalid")
    multibase = did.removeprefix("did:key:").split("#")[0]
    multikey_decode(multibase)  # validates
    vm_id = f"{did}#{multibase}"
    return {
        "@context": [DID_CONTEXT, MULTIKEY_CONTEXT],
        "id": did,
        "verificationMethod": [
            {
                "id": vm_id,
                "type": "Multikey",
                "controller": did,
                "publicKeyMultibase": multibase,
            }
        ],
        "authentication": [vm_id],
        "assertionMethod": [vm_id],
        "capabilityInvocation": [vm_id],
        "capabilityDelegation": [vm_id],
    }


# --- did:web names --------------------------------------------------------------------


def did_web_from_url(base_url: str) -> str:
    """``https://localhost:8441`` -> ``did:web:localhost%3A8441``; a path becomes ``:`` parts."""
    parts = urlsplit(base_url)
    if not parts.hostname:
        raise BadRequest(f"{base_url!r} has no host", code="did.invalid")
    host = parts.hostname
    if parts.port:
        host = f"{host}%3A{parts.port}"
    path = [quote(p, safe="") for p in parts.path.strip("/").split("/") if p]
    return ":".join(["did", "web", host, *path])


def did_web_to_url(did: str) -> str:
    """The HTTPS URL of a did:web's DID document (``/.well-known/did.json`` or ``/p/did.json``)."""
    if not did.startswith("did:web:"):
        raise BadRequest(f"{did!r} is not a did:web", code="did.invalid")
    did = split_did_url(did)[0]
    segments = did.removeprefix("did:web:").split(":")
    host = unquote(segments[0])
    if not host or "/" in host or "@" in host or "?" in host or "#" in host:
        raise Forbidden(f"did:web host {host!r} is not a valid host name", code="did.invalid")
    path = [unquote(s) for s in segments[1:]]
    if any(not s or "/" in s or s in {".", ".."} for s in path):
        raise BadRequest(f"did:web path of {did!r} is not valid", code="did.invalid")
    if path:
        return f"https://{host}/{'/'.join(quote(s) for s in path)}/did.json"
    return f"https://{host}/.well-known/did.json"


def verification_method_entry(
    did: str, key_id: str, key: PrivateKey | PublicKey, *, form: Literal["jwk", "multikey"] = "jwk"
) -> dict[str, Any]:
    """A ``verificationMethod`` entry for a key of ``did``, as JsonWebKey2020 or Multikey."""
    entry: dict[str, Any] = {"id": f"{did}#{key_id}", "controller": did}
    if form == "multikey":
        entry["type"] = "Multikey"
        entry["publicKeyMultibase"] = multikey_encode(key)
    else:
        entry["type"] = "JsonWebKey2020"
        entry["publicKeyJwk"] = public_jwk(key)
    return entry


def build_did_document(
    did: str,
    keys: Sequence[tuple[str, PrivateKey | PublicKey]],
    *,
    relationships: Sequence[Relationship] = (
        "authentication",
        "assertionMethod",
        "capabilityInvocation",
    ),
    services: Sequence[dict[str, Any]] = (),
    x5u: dict[str, str] | None = None,
) -> DidDocument:
    """A DID document listing ``keys`` (id, key) in the given relationships.

    Each key appears as a ``JsonWebKey2020`` (with ``x5u`` where given for its id, as Gaia-X
    binds keys to certificates). ``services`` are service entries (``id``, ``type``,
    ``serviceEndpoint``).
    """
    methods = []
    for key_id, key in keys:
        entry = verification_method_entry(did, key_id, key)
        if x5u and key_id in x5u:
            entry["publicKeyJwk"]["x5u"] = x5u[key_id]
        methods.append(entry)
    document: DidDocument = {
        "@context": [DID_CONTEXT, JWS2020_CONTEXT],
        "id": did,
        "verificationMethod": methods,
    }
    for relationship in relationships:
        document[relationship] = [m["id"] for m in methods]
    if services:
        document["service"] = list(services)
    return document


# --- keys in documents ---------------------------------------------------------------


def _absolute(did: str, ref: str) -> str:
    return did + ref if ref.startswith("#") else ref


def find_verification_method(
    document: DidDocument, method_id: str, relationship: Relationship
) -> dict[str, Any]:
    """The verification method ``method_id`` of ``document``, if it is in ``relationship``.

    Raises ``did.key_not_found`` when the document has no such method and
    ``did.key_not_authorized`` when it exists but not for that relationship.
    """
    did = document.get("id")
    if not isinstance(did, str):
        raise BadRequest("DID document has no id", code="did.invalid_document")
    method_id = _absolute(did, method_id)
    if split_did_url(method_id)[0] != did:
        raise Forbidden(
            f"key {method_id} is not controlled by {did}", code="did.key_not_authorized"
        )
    methods: dict[str, dict[str, Any]] = {}
    for entry in document.get("verificationMethod", []) or []:
        if isinstance(entry, dict) and isinstance(entry.get("id"), str):
            methods[_absolute(did, entry["id"])] = entry
    allowed = False
    for ref in document.get(relationship, []) or []:
        if isinstance(ref, str) and _absolute(did, ref) == method_id:
            allowed = True
        elif isinstance(ref, dict) and _absolute(did, str(ref.get("id", ""))) == method_id:
            methods.setdefault(method_id, ref)
            allowed = True
    if method_id not in methods:
        raise Forbidden(
            f"the DID document of {did} has no key {method_id}", code="did.key_not_found"
        )
    if not allowed:
        raise Forbidden(
            f"key {method_id} is not listed under {relationship} in the DID document of {did}",
            code="did.key_not_authorized",
        )
    return methods[method_id]


def public_key_of(method: dict[str, Any]) -> PublicKey:
    """The public key of a verification method (``publicKeyJwk`` or ``publicKeyMultibase``)."""
    if isinstance(method.get("publicKeyJwk"), dict):
        jwk = method["publicKeyJwk"]
        if "d" in jwk:
            raise BadRequest(
                "a DID document must not publish a private key (publicKeyJwk has 'd')",
                code="did.invalid_document",
            )
        return public_key_from_jwk(jwk)
    if isinstance(method.get("publicKeyMultibase"), str):
        return multikey_decode(method["publicKeyMultibase"])
    raise BadRequest(
        f"verification method {method.get('id')} has neither publicKeyJwk nor publicKeyMultibase",
        code="did.invalid_document",
    )


def resolve_verification_key(
    resolver: DidResolver, method_id: str, relationship: Relationship
) -> tuple[PublicKey, dict[str, Any]]:
    """Resolve ``method_id``'s DID and return its key, checked for ``relationship``."""
    did, fragment = split_did_url(method_id)
    if fragment is None:
        raise BadRequest(
            f"{method_id!r} names no key (a DID URL with a #fragment is needed)",
            code="did.key_not_found",
        )
    did_method(did)
    document = resolver.resolve(did)
    method = find_verification_method(document, method_id, relationship)
    return public_key_of(method), method
