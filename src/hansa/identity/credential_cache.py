"""Remembered ``vc+jwt`` verifications: a credential presented again is not verified again.

A holder presents the same credential with every DCP presentation query, and checking its
signature, shape and issuer key each time was a third of the cost of verifying the
presentation. What a verification of :func:`~hansa.identity.vc_jose.verify_vc_jwt_signature`
establishes depends on two things only: the exact bytes of the token, and the issuer's DID
document it was checked against. So a result is kept per token, together with that document,
and reused only while the resolver still returns an equal document: a rotated or removed key
is seen exactly when the resolver sees the new document (its cache TTL), as without this cache.

Everything that depends on the time is still checked at every use: the validity period
(``validFrom``/``validUntil``, ``nbf``/``exp``/``iat``) here, and the status lists by the
caller (:class:`hansa.identity.verifier.CredentialVerifier`), through the status checker
with its own TTL, as often as before. Failures are never remembered. Each caller gets its
own, freshly decoded credential and header: nothing mutable is shared.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hansa.identity.did import DidDocument, DidResolver, split_did_url
from hansa.identity.keys import b64url_decode
from hansa.identity.vc_jose import (
    VerifiedCredential,
    check_credential_times,
    verify_vc_jwt_signature,
)

#: Distinct credentials remembered; the least recently presented ones are forgotten first.
MAX_ENTRIES = 1024


@dataclass(frozen=True)
class _Entry:
    document: DidDocument
    issuer: str
    kid: str


class _RecordingResolver:
    """Passes resolutions through and keeps what each DID resolved to."""

    def __init__(self, resolver: DidResolver) -> None:
        self._resolver = resolver
        self.documents: dict[str, DidDocument] = {}

    def resolve(self, did: str) -> DidDocument:
        document = self._resolver.resolve(did)
        self.documents[split_did_url(did)[0]] = document
        return document


def _decoded(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    # These bytes passed the strict parse (no duplicate members, no NaN) when first verified;
    # the plain parser reads them the same way.
    header, payload, _ = token.split(".")
    return json.loads(b64url_decode(header)), json.loads(b64url_decode(payload))


class VerifiedCredentials:
    """``verify(token, now)``: :func:`~hansa.identity.vc_jose.verify_vc_jwt`, remembered."""

    def __init__(self, resolver: DidResolver, *, max_entries: int = MAX_ENTRIES) -> None:
        self._resolver = resolver
        self._max_entries = max_entries
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def verify(self, token: str, now: datetime) -> VerifiedCredential:
        """The verified credential of ``token`` at ``now``; raises as ``verify_vc_jwt`` does."""
        with self._lock:
            entry = self._entries.get(token)
            if entry is not None:
                self._entries.move_to_end(token)
        if entry is not None:
            # Resolution errors propagate exactly as a full verification would raise them.
            document = self._resolver.resolve(split_did_url(entry.kid)[0])
            if document is entry.document or document == entry.document:
                header, credential = _decoded(token)
                check_credential_times(credential, now)
                return VerifiedCredential(
                    credential=credential,
                    issuer=entry.issuer,
                    kid=entry.kid,
                    header=header,
                    token=token,
                )
            self.forget(token)
        return self._verify(token, now)

    def forget(self, token: str | None = None) -> None:
        """Forget one token's verification, or all of them."""
        with self._lock:
            if token is None:
                self._entries.clear()
            else:
                self._entries.pop(token, None)

    def _verify(self, token: str, now: datetime) -> VerifiedCredential:
        recording = _RecordingResolver(self._resolver)
        verified = verify_vc_jwt_signature(token, recording)
        check_credential_times(verified.credential, now)
        # The key was found in the document of kid's DID (verify_vc_jwt_signature checks
        # that this DID is the issuer's): that document is what the result depends on.
        document = recording.documents.get(split_did_url(verified.kid)[0])
        if document is not None:
            entry = _Entry(document, verified.issuer, verified.kid)
            with self._lock:
                self._entries[token] = entry
                self._entries.move_to_end(token)
                while len(self._entries) > self._max_entries:
                    self._entries.popitem(last=False)
        return verified


__all__ = ["MAX_ENTRIES", "VerifiedCredentials"]
