"""Verification of ``JsonWebSignature2020`` proofs, as Gaia-X 22.10 credentials carry them.

Verification only: Hansa signs with ``eddsa-rdfc-2022`` or VC-JOSE, but must still read
credentials from the Gaia-X 22.10 ("Tagus") era. The proof's ``jws`` is a detached JWS
with an unencoded payload (``b64: false``, RFC 7797). Two payloads are in use:

* W3C (lds-jws2020): SHA-256 of the canonical proof options followed by SHA-256 of the
  canonical document, as raw bytes (the same construction as Data Integrity);
* Gaia-X (compliance service and signer tools of 22.10): the *hex* SHA-256 of the
  canonical document alone, as ASCII.

Both canonicalize with RDFC-1.0 (URDNA2015) under Hansa's strict JSON-LD rules: a
credential that only verified because a lenient processor dropped undefined terms, or
that names a context Hansa does not ship, is refused with a ``jsonld.*`` error.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from hansa.errors import BadRequest
from hansa.identity.data_integrity import VerifiedProof
from hansa.identity.did import (
    DidResolver,
    Relationship,
    did_method,
    find_verification_method,
    public_key_of,
    split_did_url,
)
from hansa.identity.jsonld import ContextLoader, canonicalize
from hansa.identity.keys import b64url_decode, key_type_of
from hansa.identity.keys import verify as verify_signature

PROOF_TYPE = "JsonWebSignature2020"
# Per algorithm: the key type it needs. HS* and 'none' are never accepted.
ALGORITHMS = {
    "PS256": "RSA",
    "RS256": "RSA",
    "ES256": "P-256",
    "EdDSA": "Ed25519",
    "Ed25519": "Ed25519",
}
MIN_RSA_BITS = 2048

VerificationKey = rsa.RSAPublicKey | Ed25519PublicKey | EllipticCurvePublicKey


def _invalid(detail: str, field: str = "jws") -> BadRequest:
    return BadRequest(detail, code="vc.proof_invalid", pointer=f"/proof/{field}")


def _header(encoded: str) -> dict[str, Any]:
    try:
        header = json.loads(b64url_decode(encoded))
    except (BadRequest, ValueError) as exc:
        raise _invalid("the JWS header is not base64url JSON") from exc
    if not isinstance(header, dict):
        raise _invalid("the JWS header is not a JSON object")
    alg = header.get("alg")
    if alg not in ALGORITHMS:
        raise BadRequest(
            f"JWS algorithm {alg!r} is not accepted; use one of {', '.join(ALGORITHMS)}",
            code="vc.proof_invalid",
            pointer="/proof/jws",
        )
    if header.get("b64") is not False or header.get("crit") != ["b64"]:
        raise _invalid('JsonWebSignature2020 needs an unencoded payload: b64 false, crit ["b64"]')
    return header


def _rsa_key(jwk: dict[str, Any]) -> rsa.RSAPublicKey:
    if "d" in jwk:
        raise BadRequest(
            "a DID document must not publish a private key (publicKeyJwk has 'd')",
            code="did.invalid_document",
        )
    try:
        n = int.from_bytes(b64url_decode(str(jwk["n"])), "big")
        e = int.from_bytes(b64url_decode(str(jwk["e"])), "big")
        key = rsa.RSAPublicNumbers(e, n).public_key()
    except (KeyError, ValueError) as exc:
        raise BadRequest(f"malformed RSA JWK: {exc}", code="key.invalid_jwk") from exc
    if key.key_size < MIN_RSA_BITS:
        raise BadRequest(
            f"RSA key of {key.key_size} bits is too small (at least {MIN_RSA_BITS})",
            code="key.unsupported_type",
        )
    return key


def _method_key(method: dict[str, Any]) -> VerificationKey:
    jwk = method.get("publicKeyJwk")
    if isinstance(jwk, dict) and jwk.get("kty") == "RSA":
        return _rsa_key(jwk)
    return public_key_of(method)


def _key_type(key: VerificationKey) -> str:
    return "RSA" if isinstance(key, rsa.RSAPublicKey) else key_type_of(key)


def _signature_valid(key: VerificationKey, alg: str, signature: bytes, data: bytes) -> bool:
    if isinstance(key, rsa.RSAPublicKey):
        scheme: padding.AsymmetricPadding = (
            padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)
            if alg == "PS256"
            else padding.PKCS1v15()
        )
        try:
            key.verify(signature, data, scheme, hashes.SHA256())
        except InvalidSignature:
            return False
        return True
    return verify_signature(key, signature, data)


def _sha256(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


def verify_jws2020(
    document: dict[str, Any],
    resolver: DidResolver,
    *,
    expected_purpose: Relationship = "assertionMethod",
    challenge: str | None = None,
    domain: str | None = None,
    loader: ContextLoader | None = None,
) -> VerifiedProof:
    """Verify a ``JsonWebSignature2020`` proof (W3C or Gaia-X 22.10 payload).

    Raises ``vc.proof_missing``, ``vc.proof_unsupported``, ``vc.proof_invalid``,
    ``vc.purpose_mismatch``, ``vc.challenge_mismatch``, ``vc.domain_mismatch``,
    ``vc.signature_invalid``, and ``did.*`` / ``jsonld.*`` errors from key lookup and
    canonicalization.
    """
    proof = document.get("proof") if isinstance(document, dict) else None
    if not proof:
        raise BadRequest("the document has no proof", code="vc.proof_missing", pointer="/proof")
    if not isinstance(proof, dict) or proof.get("type") != PROOF_TYPE:
        kind = proof.get("type") if isinstance(proof, dict) else type(proof).__name__
        raise BadRequest(
            f"unsupported proof {kind!r}; only a single {PROOF_TYPE} is verified here",
            code="vc.proof_unsupported",
            pointer="/proof/type",
        )
    jws, method_id, purpose = (proof.get(k) for k in ("jws", "verificationMethod", "proofPurpose"))
    if not isinstance(jws, str) or jws.count(".") != 2 or jws.split(".")[1]:
        raise _invalid("proof.jws must be a detached JWS: header..signature")
    if not isinstance(method_id, str) or not isinstance(purpose, str):
        raise _invalid("verificationMethod and proofPurpose must be strings", "verificationMethod")
    if purpose != expected_purpose:
        raise BadRequest(
            f"proof purpose is {purpose!r}, expected {expected_purpose!r}",
            code="vc.purpose_mismatch",
            pointer="/proof/proofPurpose",
        )
    if challenge is not None and proof.get("challenge") != challenge:
        raise BadRequest(
            "proof.challenge is not the expected challenge",
            code="vc.challenge_mismatch",
            pointer="/proof/challenge",
        )
    if domain is not None and proof.get("domain") != domain:
        raise BadRequest(
            f"proof.domain is not {domain!r}", code="vc.domain_mismatch", pointer="/proof/domain"
        )
    encoded_header, _, encoded_signature = jws.split(".")
    alg = _header(encoded_header)["alg"]
    signature = b64url_decode(encoded_signature)

    did = split_did_url(method_id)[0]
    did_method(did)
    method = find_verification_method(resolver.resolve(did), method_id, expected_purpose)
    key = _method_key(method)
    if _key_type(key) != ALGORITHMS[alg]:
        raise _invalid(f"algorithm {alg} does not fit the {_key_type(key)} key {method_id}")

    unsecured = {k: v for k, v in document.items() if k != "proof"}
    document_canonical = canonicalize(unsecured, loader=loader)
    prefix = encoded_header.encode("ascii") + b"."
    # Gaia-X first: it needs no proof terms in the context, the W3C payload does.
    gaia_x_payload = hashlib.sha256(document_canonical.encode("utf-8")).hexdigest().encode()
    valid = _signature_valid(key, alg, signature, prefix + gaia_x_payload)
    if not valid:
        options = {k: v for k, v in proof.items() if k != "jws"}
        options["@context"] = unsecured.get("@context")
        w3c_payload = _sha256(canonicalize(options, loader=loader)) + _sha256(document_canonical)
        valid = _signature_valid(key, alg, signature, prefix + w3c_payload)
    if not valid:
        raise BadRequest(
            f"the JsonWebSignature2020 signature by {method_id} does not match the document",
            code="vc.signature_invalid",
            pointer="/proof/jws",
        )
    controller = method.get("controller")
    created = proof.get("created")
    return VerifiedProof(
        verification_method=method_id,
        controller=controller if isinstance(controller, str) else did,
        created=created if isinstance(created, str) else None,
        purpose=purpose,
    )
