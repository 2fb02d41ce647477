"""JsonWebSignature2020 verification, W3C and Gaia-X 22.10 payloads.

The signing side is written here, independently of the module, the way the Gaia-X
22.10 signer tools and the W3C lds-jws2020 suite do it.
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any, Literal

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hansa.errors import BadRequest, HansaError, NotFound
from hansa.identity.did import DidDocument, build_did_document
from hansa.identity.jsonld import canonicalize
from hansa.identity.jws2020 import verify_jws2020
from hansa.identity.keys import b64url

ISSUER = "did:web:provider.example"
VC1 = "https://www.w3.org/2018/credentials/v1"
JWS2020 = "https://w3id.org/security/suites/jws-2020/v1"

Signer = rsa.RSAPrivateKey | Ed25519PrivateKey


class InMemoryResolver:
    def __init__(self, *documents: DidDocument) -> None:
        self.documents = {document["id"]: document for document in documents}

    def resolve(self, did: str) -> DidDocument:
        if did not in self.documents:
            raise NotFound(f"no DID document for {did}", code="did.not_found")
        return self.documents[did]


def rsa_did_document(key: rsa.RSAPrivateKey) -> DidDocument:
    numbers = key.public_key().public_numbers()
    jwk = {
        "kty": "RSA",
        "e": b64url(numbers.e.to_bytes(3, "big")),
        "n": b64url(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
        "alg": "PS256",
    }
    method = {
        "id": f"{ISSUER}#JWK2020-RSA",
        "type": "JsonWebKey2020",
        "controller": ISSUER,
        "publicKeyJwk": jwk,
    }
    return {
        "@context": ["https://www.w3.org/ns/did/v1", JWS2020],
        "id": ISSUER,
        "verificationMethod": [method],
        "assertionMethod": [method["id"]],
    }


def participant() -> dict[str, Any]:
    return {
        "@context": [VC1, JWS2020, {"gx": "https://w3id.org/gaia-x/development#"}],
        "id": "https://provider.example/participant.json",
        "type": ["VerifiableCredential"],
        "issuer": ISSUER,
        "issuanceDate": "2023-03-01T10:00:00.000Z",
        "credentialSubject": {
            "id": "https://provider.example/participant.json#cs",
            "type": "gx:LegalParticipant",
            "gx:legalName": "Provider AG",
        },
    }


def sign(
    document: dict[str, Any],
    key: Signer,
    method: str,
    *,
    variant: Literal["gaia-x", "w3c"],
    alg: str = "PS256",
    header: dict[str, Any] | None = None,
) -> dict[str, Any]:
    proof: dict[str, Any] = {
        "type": "JsonWebSignature2020",
        "created": "2023-03-01T10:00:00.000Z",
        "proofPurpose": "assertionMethod",
        "verificationMethod": method,
    }
    canonical_document = canonicalize(document)
    if variant == "gaia-x":
        payload = hashlib.sha256(canonical_document.encode()).hexdigest().encode()
    else:
        options = {**proof, "@context": document["@context"]}
        payload = (
            hashlib.sha256(canonicalize(options).encode()).digest()
            + hashlib.sha256(canonical_document.encode()).digest()
        )
    protected = b64url(json.dumps(header or {"alg": alg, "b64": False, "crit": ["b64"]}).encode())
    data = protected.encode() + b"." + payload
    if isinstance(key, rsa.RSAPrivateKey):
        scheme: padding.AsymmetricPadding = (
            padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
            if alg == "PS256"
            else padding.PKCS1v15()
        )
        signature = key.sign(data, scheme, hashes.SHA256())
    else:
        signature = key.sign(data)
    return {**document, "proof": {**proof, "jws": f"{protected}..{b64url(signature)}"}}


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def resolver(rsa_key: rsa.RSAPrivateKey) -> InMemoryResolver:
    return InMemoryResolver(rsa_did_document(rsa_key))


@pytest.mark.parametrize("variant", ["gaia-x", "w3c"])
@pytest.mark.parametrize("alg", ["PS256", "RS256"])
def test_rsa_signatures_verify(
    rsa_key: rsa.RSAPrivateKey,
    resolver: InMemoryResolver,
    variant: Literal["gaia-x", "w3c"],
    alg: str,
) -> None:
    signed = sign(participant(), rsa_key, f"{ISSUER}#JWK2020-RSA", variant=variant, alg=alg)
    result = verify_jws2020(signed, resolver)
    assert result.controller == ISSUER
    assert result.created == "2023-03-01T10:00:00.000Z"


def test_ed25519_w3c_signature_verifies() -> None:
    key = Ed25519PrivateKey.generate()
    resolver = InMemoryResolver(
        build_did_document(ISSUER, [("key-1", key)], relationships=("assertionMethod",))
    )
    signed = sign(participant(), key, f"{ISSUER}#key-1", variant="w3c", alg="EdDSA")
    assert verify_jws2020(signed, resolver).verification_method == f"{ISSUER}#key-1"


@pytest.mark.parametrize("variant", ["gaia-x", "w3c"])
def test_tampered_credential_fails(
    rsa_key: rsa.RSAPrivateKey, resolver: InMemoryResolver, variant: Literal["gaia-x", "w3c"]
) -> None:
    signed = sign(participant(), rsa_key, f"{ISSUER}#JWK2020-RSA", variant=variant)
    signed["credentialSubject"]["gx:legalName"] = "Mallory AG"
    with pytest.raises(BadRequest) as excinfo:
        verify_jws2020(signed, resolver)
    assert excinfo.value.code == "vc.signature_invalid"


def test_other_key_fails(resolver: InMemoryResolver) -> None:
    impostor = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    signed = sign(participant(), impostor, f"{ISSUER}#JWK2020-RSA", variant="gaia-x")
    with pytest.raises(BadRequest) as excinfo:
        verify_jws2020(signed, resolver)
    assert excinfo.value.code == "vc.signature_invalid"


@pytest.mark.parametrize(
    "header",
    [
        {"alg": "HS256", "b64": False, "crit": ["b64"]},
        {"alg": "none", "b64": False, "crit": ["b64"]},
        {"alg": "PS256"},  # encoded payload: not JsonWebSignature2020
        {"alg": "PS256", "b64": False, "crit": ["b64", "exp"]},
    ],
)
def test_bad_headers_are_refused(
    rsa_key: rsa.RSAPrivateKey, resolver: InMemoryResolver, header: dict[str, Any]
) -> None:
    signed = sign(participant(), rsa_key, f"{ISSUER}#JWK2020-RSA", variant="gaia-x", header=header)
    with pytest.raises(BadRequest) as excinfo:
        verify_jws2020(signed, resolver)
    assert excinfo.value.code == "vc.proof_invalid"


def test_algorithm_must_fit_the_key(rsa_key: rsa.RSAPrivateKey, resolver: InMemoryResolver) -> None:
    signed = sign(participant(), rsa_key, f"{ISSUER}#JWK2020-RSA", variant="gaia-x")
    header = b64url(json.dumps({"alg": "EdDSA", "b64": False, "crit": ["b64"]}).encode())
    signed["proof"]["jws"] = header + signed["proof"]["jws"][signed["proof"]["jws"].index(".") :]
    with pytest.raises(BadRequest) as excinfo:
        verify_jws2020(signed, resolver)
    assert excinfo.value.code == "vc.proof_invalid"


def test_attached_payload_is_refused(
    rsa_key: rsa.RSAPrivateKey, resolver: InMemoryResolver
) -> None:
    signed = sign(participant(), rsa_key, f"{ISSUER}#JWK2020-RSA", variant="gaia-x")
    signed["proof"]["jws"] = signed["proof"]["jws"].replace("..", ".cGF5bG9hZA.")
    with pytest.raises(BadRequest) as excinfo:
        verify_jws2020(signed, resolver)
    assert excinfo.value.code == "vc.proof_invalid"


def test_other_proof_types_and_missing_proofs(resolver: InMemoryResolver) -> None:
    with pytest.raises(BadRequest) as excinfo:
        verify_jws2020(participant(), resolver)
    assert excinfo.value.code == "vc.proof_missing"
    other = {**participant(), "proof": {"type": "DataIntegrityProof"}}
    with pytest.raises(BadRequest) as excinfo:
        verify_jws2020(other, resolver)
    assert excinfo.value.code == "vc.proof_unsupported"


def test_purpose_mismatch(rsa_key: rsa.RSAPrivateKey, resolver: InMemoryResolver) -> None:
    signed = sign(participant(), rsa_key, f"{ISSUER}#JWK2020-RSA", variant="gaia-x")
    with pytest.raises(BadRequest) as excinfo:
        verify_jws2020(signed, resolver, expected_purpose="authentication")
    assert excinfo.value.code == "vc.purpose_mismatch"


def test_key_not_in_assertion_method(rsa_key: rsa.RSAPrivateKey) -> None:
    document = rsa_did_document(rsa_key)
    document["authentication"] = document.pop("assertionMethod")
    signed = sign(participant(), rsa_key, f"{ISSUER}#JWK2020-RSA", variant="gaia-x")
    with pytest.raises(HansaError) as excinfo:
        verify_jws2020(signed, InMemoryResolver(document))
    assert excinfo.value.code == "did.key_not_authorized"


def test_small_rsa_keys_are_refused(rsa_key: rsa.RSAPrivateKey) -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    signed = sign(participant(), small, f"{ISSUER}#JWK2020-RSA", variant="gaia-x")
    with pytest.raises(BadRequest) as excinfo:
        verify_jws2020(signed, InMemoryResolver(rsa_did_document(small)))
    assert excinfo.value.code == "key.unsupported_type"


def test_unknown_gaia_x_2210_context_is_refused(
    rsa_key: rsa.RSAPrivateKey, resolver: InMemoryResolver
) -> None:
    signed = sign(participant(), rsa_key, f"{ISSUER}#JWK2020-RSA", variant="gaia-x")
    # Hansa ships the development registry's 22.10 context (for hansa.compliance.migrate),
    # not the copy the v1 registry served: that one is still unknown, and never fetched.
    tagus = "https://registry.lab.gaia-x.eu/v1/api/trusted-shape-registry/v1/shapes/jsonld/trustframework#"
    broken = copy.deepcopy(signed)
    broken["@context"] = [VC1, JWS2020, tagus]
    with pytest.raises(BadRequest) as excinfo:
        verify_jws2020(broken, resolver)
    assert excinfo.value.code == "jsonld.unknown_context"
