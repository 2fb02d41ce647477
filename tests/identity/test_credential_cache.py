"""Remembered vc+jwt verifications: reused only for the same bytes and the same DID document,
with the validity period and the status lists checked at every use, exactly as often as before."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from hansa.errors import HansaError
from hansa.identity import credential_cache
from hansa.identity.credential_cache import VerifiedCredentials
from hansa.identity.did import DidDocument, build_did_document
from hansa.identity.keys import PrivateKey, generate_private_key
from hansa.identity.status_service import StatusChecker, StatusListService
from hansa.identity.trust import TrustAnchorService
from hansa.identity.validity import format_datetime
from hansa.identity.vc_jose import (
    CREDENTIALS_V2,
    VerifiedCredential,
    issue_vc_jwt,
    issue_vp_jwt,
    verify_vc_jwt,
    verify_vc_jwt_signature,
)
from hansa.identity.verifier import CredentialVerifier

ISSUER = "did:web:issuer.example"
HOLDER = "did:web:holder.example"
VERIFIER = "did:web:verifier.example"
NOW = datetime.now(UTC)


class Resolver:
    """DID documents from a dict, which a test may replace (as a re-fetched document)."""

    def __init__(self) -> None:
        self.documents: dict[str, DidDocument] = {}

    def resolve(self, did: str) -> DidDocument:
        did = did.split("#")[0]
        if did not in self.documents:
            raise HansaError(f"no DID document for {did}", code="did.not_found")
        return self.documents[did]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Counted:
    """Counts the full (signature) verifications the cache runs."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        real = verify_vc_jwt_signature

        def counted(token: str, resolver: Any) -> VerifiedCredential:
            self.calls += 1
            return real(token, resolver)

        monkeypatch.setattr(credential_cache, "verify_vc_jwt_signature", counted)


@pytest.fixture
def issuer_key() -> PrivateKey:
    return generate_private_key("Ed25519")


@pytest.fixture
def holder_key() -> PrivateKey:
    return generate_private_key("Ed25519")


@pytest.fixture
def resolver(issuer_key: PrivateKey, holder_key: PrivateKey) -> Resolver:
    resolver = Resolver()
    resolver.documents[ISSUER] = build_did_document(ISSUER, [("key-1", issuer_key)])
    resolver.documents[HOLDER] = build_did_document(HOLDER, [("key-1", holder_key)])
    return resolver


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> Counted:
    return Counted(monkeypatch)


def membership(key: PrivateKey, **changes: Any) -> str:
    credential: dict[str, Any] = {
        "@context": [CREDENTIALS_V2],
        "id": "urn:uuid:membership-1",
        "type": ["VerifiableCredential", "MembershipCredential"],
        "issuer": ISSUER,
        "validFrom": format_datetime(NOW - timedelta(days=1)),
        "validUntil": format_datetime(NOW + timedelta(days=30)),
        "credentialSubject": {"id": HOLDER, "memberOf": "bench"},
        **changes,
    }
    return issue_vc_jwt(credential, key, f"{ISSUER}#key-1", now=NOW)


def code_of(call: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(HansaError) as excinfo:
        call(*args, **kwargs)
    return excinfo.value.code


# --- the cache on its own ------------------------------------------------------------------


def test_a_credential_presented_again_is_not_verified_again(
    resolver: Resolver, issuer_key: PrivateKey, counted: Counted
) -> None:
    cache = VerifiedCredentials(resolver)
    token = membership(issuer_key)
    first = cache.verify(token, NOW)
    second = cache.verify(token, NOW)
    assert counted.calls == 1
    expected = verify_vc_jwt(token, resolver, now=NOW)
    for result in (first, second):
        assert (result.credential, result.issuer, result.kid, result.header, result.token) == (
            expected.credential,
            expected.issuer,
            expected.kid,
            expected.header,
            expected.token,
        )


def test_each_caller_gets_its_own_credential(resolver: Resolver, issuer_key: PrivateKey) -> None:
    cache = VerifiedCredentials(resolver)
    token = membership(issuer_key)
    first = cache.verify(token, NOW)
    first.credential["credentialSubject"]["memberOf"] = "changed by a caller"
    first.header["kid"] = "changed too"
    second = cache.verify(token, NOW)
    assert second.credential["credentialSubject"]["memberOf"] == "bench"
    assert second.header["kid"] == f"{ISSUER}#key-1"


def test_the_validity_period_is_checked_at_every_use(
    resolver: Resolver, issuer_key: PrivateKey, counted: Counted
) -> None:
    cache = VerifiedCredentials(resolver)
    token = membership(issuer_key)
    cache.verify(token, NOW)
    assert code_of(cache.verify, token, NOW + timedelta(days=31)) == "vc.expired"
    assert code_of(cache.verify, token, NOW - timedelta(days=2)) == "vc.not_yet_valid"
    cache.verify(token, NOW)
    assert counted.calls == 1


def test_a_changed_did_document_is_seen_as_soon_as_the_resolver_returns_it(
    resolver: Resolver, issuer_key: PrivateKey, counted: Counted
) -> None:
    cache = VerifiedCredentials(resolver)
    token = membership(issuer_key)
    cache.verify(token, NOW)
    # A re-fetched but equal document: the result still holds.
    resolver.documents[ISSUER] = copy.deepcopy(resolver.documents[ISSUER])
    cache.verify(token, NOW)
    assert counted.calls == 1
    # The issuer rotated its key away: the old signature no longer verifies.
    new_key = generate_private_key("Ed25519")
    resolver.documents[ISSUER] = build_did_document(ISSUER, [("key-2", new_key)])
    assert code_of(cache.verify, token, NOW) == "did.key_not_found"
    # Key still there, but no longer for assertions.
    resolver.documents[ISSUER] = build_did_document(
        ISSUER, [("key-1", issuer_key)], relationships=("authentication",)
    )
    assert code_of(cache.verify, token, NOW) == "did.key_not_authorized"
    # An unresolvable issuer fails as a full verification would.
    del resolver.documents[ISSUER]
    assert code_of(cache.verify, token, NOW) == "did.not_found"
    resolver.documents[ISSUER] = build_did_document(ISSUER, [("key-1", issuer_key)])
    cache.verify(token, NOW)
    cache.verify(token, NOW)
    assert counted.calls == 5  # every document change meant a full verification


def test_failures_are_not_remembered(
    resolver: Resolver, issuer_key: PrivateKey, counted: Counted
) -> None:
    cache = VerifiedCredentials(resolver)
    token = membership(issuer_key)
    header, payload, signature = token.split(".")
    forged = f"{header}.{payload}.{signature[:-4]}AAAA"
    assert code_of(cache.verify, forged, NOW) == "vc.signature_invalid"
    assert code_of(cache.verify, forged, NOW) == "vc.signature_invalid"
    saved = resolver.documents.pop(ISSUER)
    assert code_of(cache.verify, token, NOW) == "did.not_found"
    resolver.documents[ISSUER] = saved
    cache.verify(token, NOW)
    cache.verify(token, NOW)
    assert counted.calls == 4


def test_the_cache_is_bounded(resolver: Resolver, issuer_key: PrivateKey, counted: Counted) -> None:
    cache = VerifiedCredentials(resolver, max_entries=2)
    tokens = [membership(issuer_key, id=f"urn:uuid:{n}") for n in range(3)]
    for token in tokens:
        cache.verify(token, NOW)
    cache.verify(tokens[2], NOW)
    cache.verify(tokens[1], NOW)
    assert counted.calls == 3
    cache.verify(tokens[0], NOW)  # the least recently used one was forgotten
    assert counted.calls == 4


# --- through the verifier: status lists as often as before -----------------------------------


def test_a_revoked_credential_is_refused_when_the_status_cache_expires_as_before(
    sessions: sessionmaker[Session],
    resolver: Resolver,
    issuer_key: PrivateKey,
    holder_key: PrivateKey,
    counted: Counted,
) -> None:
    lists = StatusListService(sessions, "https://issuer.example", issuer=ISSUER)

    def sign(credential: dict[str, Any]) -> str:
        return issue_vc_jwt(credential, issuer_key, f"{ISSUER}#key-1")

    fetched: list[str] = []

    def fetch(url: str) -> bytes:
        fetched.append(url)
        return lists.status_list_credential(url.rsplit("/", 1)[1], sign).encode()

    def verify_list(token: str) -> tuple[dict[str, Any], str]:
        verified = verify_vc_jwt(token, resolver)
        return verified.credential, verified.issuer

    clock = Clock()
    checker = StatusChecker(fetch, verify_list, ttl_seconds=60, clock=clock)
    verifier = CredentialVerifier(resolver, checker.check, TrustAnchorService(sessions), fetch)
    token = membership(
        issuer_key, credentialStatus=lists.allocate("urn:uuid:membership-1", subject=HOLDER)
    )

    def present() -> str:
        return issue_vp_jwt([token], HOLDER, holder_key, f"{HOLDER}#key-1", audience=VERIFIER)

    assert (
        "status" in verifier.verify_presentation(present(), domain=VERIFIER).credentials[0].checks
    )
    assert "status" in verifier.verify_credential(token).checks
    lists.revoke("urn:uuid:membership-1")
    clock.now += 59  # the status list is still the cached one: accepted, as without the cache
    verifier.verify_presentation(present(), domain=VERIFIER)
    clock.now += 2  # the status list is fetched again: refused at once
    with pytest.raises(HansaError) as excinfo:
        verifier.verify_presentation(present(), domain=VERIFIER)
    assert excinfo.value.code == "vc.revoked"
    assert excinfo.value.pointer == "/verifiableCredential/0/credentialStatus"
    assert code_of(verifier.verify_credential, token) == "vc.revoked"
    # The credential's signature was checked once; its status at every use.
    assert counted.calls == 1
    revocation, suspension = (lists.list_url(f"{p}-1") for p in ("revocation", "suspension"))
    assert fetched == [revocation, suspension, revocation]
