"""Participants for DCP tests: did:web names with keys in a dict resolver, no network."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hansa.errors import NotFound
from hansa.identity.did import DidDocument, build_did_document, resolve_did_key
from hansa.identity.keys import PrivateKey, generate_private_key


class Resolver:
    """did:key from the key itself, did:web from a dict."""

    def __init__(self) -> None:
        self.documents: dict[str, DidDocument] = {}
        self.resolved: list[str] = []

    def resolve(self, did: str) -> DidDocument:
        self.resolved.append(did)
        if did.startswith("did:key:"):
            return resolve_did_key(did)
        if did in self.documents:
            return self.documents[did]
        raise NotFound(f"no DID document for {did}", code="did.not_found")


@dataclass
class Party:
    """A participant: a did:web, one key, and its DID document registered in ``resolver``."""

    did: str
    key: PrivateKey = field(default_factory=generate_private_key)
    key_id: str = "key-1"

    @property
    def kid(self) -> str:
        return f"{self.did}#{self.key_id}"

    def publish(
        self,
        resolver: Resolver,
        *,
        relationships: tuple[Any, ...] = (
            "authentication",
            "assertionMethod",
            "capabilityInvocation",
        ),
        services: tuple[dict[str, Any], ...] = (),
    ) -> Party:
        resolver.documents[self.did] = build_did_document(
            self.did,
            [(self.key_id, self.key)],
            relationships=relationships,
            services=services,
        )
        return self
