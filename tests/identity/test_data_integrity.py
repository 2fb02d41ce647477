"""Data Integrity ``eddsa-rdfc-2022``: the W3C vectors, sign/verify, and every refusal."""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import base58
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hansa.errors import BadRequest, HansaError, NotFound
from hansa.identity.data_integrity import (
    DATA_INTEGRITY_CONTEXT,
    VerifiedProof,
    add_proof,
    b58decode,
    hash_data,
    verify_proof,
)
from hansa.identity.did import (
    DidDocument,
    Relationship,
    build_did_document,
    resolve_did_key,
)
from hansa.identity.jsonld import ContextLoader, canonicalize
from hansa.identity.keys import PrivateKey, generate_private_key, multikey_encode

VECTORS = Path(__file__).parent / "vectors" / "vc-di-eddsa"
VC2 = "https://www.w3.org/ns/credentials/v2"
VC1 = "https://www.w3.org/2018/credentials/v1"
ISSUER = "did:web:issuer.example"
HOLDER = "did:web:holder.example"


class InMemoryResolver:
    """A DidResolver over fixed DID documents; did:key resolves by itself, without network."""

    def __init__(self, *documents: DidDocument) -> None:
        self.documents = {document["id"]: document for document in documents}

    def resolve(self, did: str) -> DidDocument:
        if did.startswith("did:key:"):
            return resolve_did_key(did)
        if did not in self.documents:
            raise NotFound(f"no DID document for {did}", code="did.not_found")
        return self.documents[did]


def vector(name: str) -> str:
    return (VECTORS / name).read_text()


def vector_json(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(vector(name))
    return document


def vector_loader() -> ContextLoader:
    examples = vector_json("credentials-examples-v2.jsonld")
    return ContextLoader({"https://www.w3.org/ns/credentials/examples/v2": examples})


def vector_key() -> Ed25519PrivateKey:
    secret = base58.b58decode(vector_json("key-pair.json")["secretKeyMultibase"][1:])
    assert secret[:2] == b"\x80\x26"  # multicodec ed25519-priv
    return Ed25519PrivateKey.from_private_bytes(secret[2:])


def code_of(excinfo: pytest.ExceptionInfo[HansaError]) -> str:
    return excinfo.value.code


# --- W3C vc-di-eddsa Appendix B.1 ----------------------------------------------------------


def test_vector_key_pair_matches_published_public_key() -> None:
    assert multikey_encode(vector_key()) == vector_json("key-pair.json")["publicKeyMultibase"]


def test_vector_proof_options_canonical_form_and_hash() -> None:
    canonical = canonicalize(vector_json("proof-options.json"), loader=vector_loader())
    assert canonical == vector("proof-options.nq")
    assert hashlib.sha256(canonical.encode()).hexdigest() == vector("proof-options.sha256").strip()


def test_vector_combined_hash_and_signature() -> None:
    options = vector_json("proof-options.json")
    data = hash_data(vector_json("credential.json"), options, loader=vector_loader())
    assert data.hex() == vector("combined-hash.hex").strip()
    # Ed25519 is deterministic: the same key and data give the published signature.
    signature = vector_key().sign(data)
    assert signature.hex() == vector("signature.hex").strip()
    assert "z" + base58.b58encode(signature).decode() == vector("proof-value.txt").strip()


def test_vector_add_proof_reproduces_the_signed_credential() -> None:
    options = vector_json("proof-options.json")
    signed = add_proof(
        vector_json("credential.json"),
        vector_key(),
        options["verificationMethod"],
        created=options["created"],
        loader=vector_loader(),
    )
    assert signed == vector_json("signed-credential.json")


def test_vector_signed_credential_verifies() -> None:
    result = verify_proof(
        vector_json("signed-credential.json"), InMemoryResolver(), loader=vector_loader()
    )
    did = "did:key:z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2"
    assert result == VerifiedProof(
        verification_method=f"{did}#z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2",
        controller=did,
        created="2023-02-24T23:36:38Z",
        purpose="assertionMethod",
    )


def test_vector_tampered_credential_fails() -> None:
    signed = vector_json("signed-credential.json")
    signed["credentialSubject"]["alumniOf"] = "The School of Forgeries"
    with pytest.raises(BadRequest) as excinfo:
        verify_proof(signed, InMemoryResolver(), loader=vector_loader())
    assert code_of(excinfo) == "vc.signature_invalid"


# --- own credentials and presentations -----------------------------------------------------


def did_web(
    did: str,
    key: PrivateKey,
    relationships: tuple[Relationship, ...] = ("authentication", "assertionMethod"),
) -> DidDocument:
    return build_did_document(did, [("key-1", key)], relationships=relationships)


def credential(**subject: Any) -> dict[str, Any]:
    return {
        "@context": [VC2],
        "id": "urn:uuid:7e1f7a9a-31a4-4a0e-8f1a-2b6a54c0d001",
        "type": ["VerifiableCredential"],
        "issuer": ISSUER,
        "validFrom": "2025-01-01T00:00:00Z",
        "credentialSubject": {"id": HOLDER, "name": "Hansa Test GmbH", **subject},
    }


@pytest.fixture
def issuer_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def holder_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def resolver(issuer_key: Ed25519PrivateKey, holder_key: Ed25519PrivateKey) -> InMemoryResolver:
    return InMemoryResolver(did_web(ISSUER, issuer_key), did_web(HOLDER, holder_key))


@pytest.fixture
def signed(issuer_key: Ed25519PrivateKey) -> dict[str, Any]:
    return add_proof(credential(), issuer_key, f"{ISSUER}#key-1")


def presentation(vc: dict[str, Any]) -> dict[str, Any]:
    return {
        "@context": [VC2],
        "type": ["VerifiablePresentation"],
        "holder": HOLDER,
        "verifiableCredential": [vc],
    }


def test_sign_and_verify_credential(signed: dict[str, Any], resolver: InMemoryResolver) -> None:
    proof = signed["proof"]
    assert proof["type"] == "DataIntegrityProof"
    assert proof["cryptosuite"] == "eddsa-rdfc-2022"
    assert proof["proofValue"].startswith("z")
    assert proof["created"].endswith("Z")
    assert "@context" not in proof
    result = verify_proof(signed, resolver)
    assert result.verification_method == f"{ISSUER}#key-1"
    assert result.controller == ISSUER
    assert result.purpose == "assertionMethod"


def test_add_proof_does_not_touch_its_input(issuer_key: Ed25519PrivateKey) -> None:
    original = credential()
    before = copy.deepcopy(original)
    add_proof(original, issuer_key, f"{ISSUER}#key-1")
    assert original == before


def test_sign_and_verify_presentation_with_challenge_and_domain(
    signed: dict[str, Any], holder_key: Ed25519PrivateKey, resolver: InMemoryResolver
) -> None:
    vp = add_proof(
        presentation(signed),
        holder_key,
        f"{HOLDER}#key-1",
        proof_purpose="authentication",
        challenge="nonce-123",
        domain="https://verifier.example",
    )
    result = verify_proof(
        vp,
        resolver,
        expected_purpose="authentication",
        challenge="nonce-123",
        domain="https://verifier.example",
    )
    assert result.controller == HOLDER
    # The embedded credential keeps its own, still valid, proof.
    assert verify_proof(vp["verifiableCredential"][0], resolver).controller == ISSUER


@pytest.mark.parametrize(
    ("challenge", "domain", "code"),
    [
        ("another-nonce", "https://verifier.example", "vc.challenge_mismatch"),
        ("nonce-123", "https://other.example", "vc.domain_mismatch"),
    ],
)
def test_presentation_binding_mismatch(
    signed: dict[str, Any],
    holder_key: Ed25519PrivateKey,
    resolver: InMemoryResolver,
    challenge: str,
    domain: str,
    code: str,
) -> None:
    vp = add_proof(
        presentation(signed),
        holder_key,
        f"{HOLDER}#key-1",
        proof_purpose="authentication",
        challenge="nonce-123",
        domain="https://verifier.example",
    )
    with pytest.raises(BadRequest) as excinfo:
        verify_proof(
            vp, resolver, expected_purpose="authentication", challenge=challenge, domain=domain
        )
    assert code_of(excinfo) == code


def test_expected_challenge_missing_from_proof(
    signed: dict[str, Any], holder_key: Ed25519PrivateKey, resolver: InMemoryResolver
) -> None:
    vp = add_proof(
        presentation(signed), holder_key, f"{HOLDER}#key-1", proof_purpose="authentication"
    )
    with pytest.raises(BadRequest) as excinfo:
        verify_proof(vp, resolver, expected_purpose="authentication", challenge="nonce")
    assert code_of(excinfo) == "vc.challenge_mismatch"


def test_purpose_mismatch(signed: dict[str, Any], resolver: InMemoryResolver) -> None:
    with pytest.raises(BadRequest) as excinfo:
        verify_proof(signed, resolver, expected_purpose="authentication")
    assert code_of(excinfo) == "vc.purpose_mismatch"


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda d: d["credentialSubject"].update(name="Other GmbH"), id="subject"),
        pytest.param(lambda d: d.update(validFrom="2020-01-01T00:00:00Z"), id="valid-from"),
        pytest.param(lambda d: d["proof"].update(created="2020-01-01T00:00:00Z"), id="created"),
        pytest.param(lambda d: d["proof"].update(challenge="added"), id="added-challenge"),
        pytest.param(lambda d: d.update(issuer="did:web:mallory.example"), id="issuer"),
    ],
)
def test_tampered_document_fails(
    signed: dict[str, Any], resolver: InMemoryResolver, tamper: Any
) -> None:
    tampered = copy.deepcopy(signed)
    tamper(tampered)
    with pytest.raises(BadRequest) as excinfo:
        verify_proof(tampered, resolver)
    assert code_of(excinfo) == "vc.signature_invalid"


def test_duplicate_type_is_the_same_rdf_and_still_verifies(
    signed: dict[str, Any], resolver: InMemoryResolver
) -> None:
    same = copy.deepcopy(signed)
    same["type"] = ["VerifiableCredential", "VerifiableCredential"]
    assert verify_proof(same, resolver).controller == ISSUER


def test_adding_an_undefined_term_after_signing_is_a_jsonld_error(
    signed: dict[str, Any], resolver: InMemoryResolver
) -> None:
    tampered = copy.deepcopy(signed)
    tampered["credentialSubject"]["smuggled"] = "not covered by any context"
    with pytest.raises(BadRequest) as excinfo:
        verify_proof(tampered, resolver)
    assert code_of(excinfo) == "jsonld.undefined_term"


def test_wrong_key_fails(issuer_key: Ed25519PrivateKey, resolver: InMemoryResolver) -> None:
    impostor = Ed25519PrivateKey.generate()
    forged = add_proof(credential(), impostor, f"{ISSUER}#key-1")
    with pytest.raises(BadRequest) as excinfo:
        verify_proof(forged, resolver)
    assert code_of(excinfo) == "vc.signature_invalid"


def test_key_not_in_assertion_method(issuer_key: Ed25519PrivateKey) -> None:
    resolver = InMemoryResolver(did_web(ISSUER, issuer_key, relationships=("authentication",)))
    signed = add_proof(credential(), issuer_key, f"{ISSUER}#key-1")
    with pytest.raises(HansaError) as excinfo:
        verify_proof(signed, resolver)
    assert code_of(excinfo) == "did.key_not_authorized"


def test_unknown_key_id(issuer_key: Ed25519PrivateKey, resolver: InMemoryResolver) -> None:
    signed = add_proof(credential(), issuer_key, f"{ISSUER}#key-9")
    with pytest.raises(HansaError) as excinfo:
        verify_proof(signed, resolver)
    assert code_of(excinfo) == "did.key_not_found"


def test_unresolvable_did_error_propagates(issuer_key: Ed25519PrivateKey) -> None:
    signed = add_proof(credential(), issuer_key, "did:web:nobody.example#key-1")
    with pytest.raises(HansaError) as excinfo:
        verify_proof(signed, InMemoryResolver())
    assert code_of(excinfo) == "did.not_found"


def test_did_key_signer_verifies_without_any_document() -> None:
    key = Ed25519PrivateKey.generate()
    did = "did:key:" + multikey_encode(key)
    vc = credential()
    vc["issuer"] = did
    signed = add_proof(vc, key, f"{did}#{multikey_encode(key)}")
    assert verify_proof(signed, InMemoryResolver()).controller == did


def test_unknown_context_is_refused(issuer_key: Ed25519PrivateKey) -> None:
    vc = credential()
    vc["@context"] = [VC2, "https://unknown.example/context.jsonld"]
    with pytest.raises(BadRequest) as excinfo:
        add_proof(vc, issuer_key, f"{ISSUER}#key-1")
    assert code_of(excinfo) == "jsonld.unknown_context"


def test_unknown_context_in_a_signed_document_is_refused(
    signed: dict[str, Any], resolver: InMemoryResolver
) -> None:
    signed["@context"] = [VC2, "https://unknown.example/context.jsonld"]
    with pytest.raises(BadRequest) as excinfo:
        verify_proof(signed, resolver)
    assert code_of(excinfo) == "jsonld.unknown_context"


def test_undefined_term_cannot_be_signed(issuer_key: Ed25519PrivateKey) -> None:
    with pytest.raises(BadRequest) as excinfo:
        add_proof(credential(shoeSize=42), issuer_key, f"{ISSUER}#key-1")
    assert code_of(excinfo) == "jsonld.undefined_term"


@pytest.mark.parametrize(
    ("field", "value"),
    [("cryptosuite", "ecdsa-rdfc-2019"), ("cryptosuite", "eddsa-jcs-2022"), ("type", "Proof")],
)
def test_unsupported_proof(
    signed: dict[str, Any], resolver: InMemoryResolver, field: str, value: str
) -> None:
    signed["proof"][field] = value
    with pytest.raises(BadRequest) as excinfo:
        verify_proof(signed, resolver)
    assert code_of(excinfo) == "vc.proof_unsupported"


def test_missing_proof(resolver: InMemoryResolver) -> None:
    with pytest.raises(BadRequest) as excinfo:
        verify_proof(credential(), resolver)
    assert code_of(excinfo) == "vc.proof_missing"


def test_proof_set_of_one_verifies_and_of_two_is_refused(
    signed: dict[str, Any], resolver: InMemoryResolver
) -> None:
    signed["proof"] = [signed["proof"]]
    assert verify_proof(signed, resolver).controller == ISSUER
    signed["proof"] = signed["proof"] * 2
    with pytest.raises(BadRequest) as excinfo:
        verify_proof(signed, resolver)
    assert code_of(excinfo) == "vc.proof_unsupported"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("proofValue", "uNotBase58btc"),
        ("proofValue", "z" + base58.b58encode(b"short").decode()),
        ("proofValue", "z0OIl"),  # not in the base58 alphabet
        ("proofValue", None),
        ("verificationMethod", 7),
        ("created", "yesterday"),
    ],
)
def test_malformed_proof(
    signed: dict[str, Any], resolver: InMemoryResolver, field: str, value: Any
) -> None:
    signed["proof"][field] = value
    with pytest.raises(BadRequest) as excinfo:
        verify_proof(signed, resolver)
    assert code_of(excinfo) == "vc.proof_invalid"
    assert excinfo.value.pointer == f"/proof/{field}"


def test_expired_proof(issuer_key: Ed25519PrivateKey, resolver: InMemoryResolver) -> None:
    expires = datetime(2030, 1, 1, tzinfo=UTC)
    signed = add_proof(credential(), issuer_key, f"{ISSUER}#key-1", expires=expires)
    assert verify_proof(signed, resolver, now=expires - timedelta(seconds=1))
    with pytest.raises(BadRequest) as excinfo:
        verify_proof(signed, resolver, now=expires)
    assert code_of(excinfo) == "vc.proof_expired"


def test_p256_keys_are_refused() -> None:
    p256 = generate_private_key("P-256")
    with pytest.raises(BadRequest) as excinfo:
        add_proof(credential(), p256, f"{ISSUER}#key-1")
    assert code_of(excinfo) == "key.unsupported_type"


def test_p256_key_in_did_document_is_refused(signed: dict[str, Any]) -> None:
    resolver = InMemoryResolver(did_web(ISSUER, generate_private_key("P-256")))
    with pytest.raises(BadRequest) as excinfo:
        verify_proof(signed, resolver)
    assert code_of(excinfo) == "vc.proof_unsupported"


def test_vc1_document_gets_the_data_integrity_context(
    issuer_key: Ed25519PrivateKey, resolver: InMemoryResolver
) -> None:
    vc = {
        "@context": VC1,
        "id": "urn:uuid:1",
        "type": ["VerifiableCredential"],
        "issuer": ISSUER,
        "issuanceDate": "2024-01-01T00:00:00Z",
        "credentialSubject": {"id": HOLDER},
    }
    signed = add_proof(vc, issuer_key, f"{ISSUER}#key-1")
    assert signed["@context"] == [VC1, DATA_INTEGRITY_CONTEXT]
    assert verify_proof(signed, resolver).controller == ISSUER


def test_proof_with_its_own_context(
    issuer_key: Ed25519PrivateKey, resolver: InMemoryResolver
) -> None:
    """Some issuers copy the @context into the proof; it must begin the document's own."""
    signed = add_proof(credential(), issuer_key, f"{ISSUER}#key-1")
    signed["proof"]["@context"] = [VC2]
    assert verify_proof(signed, resolver).controller == ISSUER
    signed["proof"]["@context"] = [DATA_INTEGRITY_CONTEXT]
    with pytest.raises(BadRequest) as excinfo:
        verify_proof(signed, resolver)
    assert code_of(excinfo) == "vc.proof_invalid"


def test_document_with_a_proof_cannot_be_signed_again(
    signed: dict[str, Any], issuer_key: Ed25519PrivateKey
) -> None:
    with pytest.raises(BadRequest) as excinfo:
        add_proof(signed, issuer_key, f"{ISSUER}#key-1")
    assert code_of(excinfo) == "vc.proof_present"


def test_document_without_context_cannot_be_signed(issuer_key: Ed25519PrivateKey) -> None:
    vc = credential()
    del vc["@context"]
    with pytest.raises(BadRequest) as excinfo:
        add_proof(vc, issuer_key, f"{ISSUER}#key-1")
    assert code_of(excinfo) == "jsonld.invalid_context"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "1",
        "111",
        "11z",
        "2",
        "z",
        "zzzzzzzz",
        "3mJr7AoUXx2Wqd",
        "1112mJr7AoUXx2Wqd",
        "z0OIl",
        "zé",
        "abc  ",
        "abc\n",
        base58.b58encode(bytes(64)).decode(),
        base58.b58encode(b"\x00\x00" + bytes(range(62))).decode(),
        base58.b58encode(bytes(range(255, 191, -1))).decode(),
    ],
)
def test_b58decode_is_the_libraries(text: str) -> None:
    try:
        expected = base58.b58decode(text)
    except ValueError as exc:
        with pytest.raises(type(exc)):
            b58decode(text)
    else:
        assert b58decode(text) == expected


def test_b58decode_round_trips_random_bytes() -> None:
    import random

    rng = random.Random(58)
    for _ in range(300):
        data = bytes(rng.randint(0, 3)) + rng.randbytes(rng.randint(0, 70))
        encoded = base58.b58encode(data).decode()
        assert b58decode(encoded) == data == base58.b58decode(encoded)
